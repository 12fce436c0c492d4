"""`medallion run`: the whole pipeline in one process, then a summary and a report."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from medallion.common.config import ConfigError, load_config
from medallion.common.intervals import Interval, add_interval_arguments, interval_from_args

DEFAULT_DAYS = 400  # enough history for SMA 200 and the 52-week range


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medallion run",
        description="Run ingest -> silver -> gold -> publish for an interval in one process, "
        "print a summary, and write a report (chart + page). Settings come from the "
        "environment (MARKET_SOURCE, WATCHLIST, LAKE_ROOT, ANALYTICS_DSN, ...).",
    )
    add_interval_arguments(parser, required=False)
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("reports/latest"),
        help="directory for report.html, gold.png and summary.json",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    interval = interval_from_args(args, parser)
    if interval is None:
        today = datetime.now(UTC).date()  # only the default window looks at the clock
        interval = Interval(today - timedelta(days=DEFAULT_DAYS), today + timedelta(days=1))
    from medallion.common.logs import setup_logging

    # a person reads this run's output: text logs unless LOG_FORMAT says otherwise
    setup_logging(fmt=os.environ.get("LOG_FORMAT", "text"))
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"medallion run: {exc}", file=sys.stderr)
        return 2
    from medallion.runner.pipeline import format_summary, run_pipeline
    from medallion.runner.report import write_report

    try:
        summary, gold = run_pipeline(config, interval)
    except ConfigError as exc:
        print(f"medallion run: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    page = write_report(args.report, summary, gold)
    print(f"\n  report: {page.resolve()}")
    return 0
