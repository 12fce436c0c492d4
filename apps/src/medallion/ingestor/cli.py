"""``medallion ingest`` / ``ingest``: market API -> bronze for one interval.

Exit codes (medallion.common.cli, README "When a task fails"): 0 ok, 2 bad
configuration or arguments, 3 source unreachable or circuit breaker open.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from medallion.common.cli import EXIT_CONFIG, EXIT_UNAVAILABLE, run_stage_cli
from medallion.common.config import BAR_INTERVALS, SOURCES, Config
from medallion.common.intervals import Interval, add_interval_arguments
from medallion.ingestor.job import SourceUnavailable, run_ingest
from medallion.ingestor.sources.base import SourceError

logger = logging.getLogger(__name__)


DESCRIPTION = """\
Fetch raw market data for the watchlist and store every response verbatim in bronze:
  bronze/source=<src>/symbol=<S>/interval=<I>/ingest_date=<start>/<run>-<sha256>.json

Only what bronze is missing is requested (watermarks under bronze/_state/), so
re-running an interval adds nothing. Settings come from the environment
(LAKE_ROOT, MARKET_SOURCE, WATCHLIST, BAR_INTERVAL, HTTP_*, ...); flags override.
"""

EPILOG = """\
examples:
  medallion ingest --date 2026-01-05
  medallion ingest --start 2026-01-01 --end 2026-02-01 --symbols AAPL,MSFT
  MARKET_SOURCE=synthetic medallion ingest --date 2026-01-05    # no network needed

exit codes: 0 ok, 2 bad configuration or arguments, 3 source unreachable / breaker open
"""


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    if not symbols:
        raise argparse.ArgumentTypeError("give comma-separated symbols, e.g. AAPL,MSFT")
    return symbols


def build_parser(prog: str = "medallion ingest") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_interval_arguments(parser, required=True)
    parser.add_argument(
        "--symbols",
        type=_symbols,
        metavar="S1,S2",
        help="symbols to ingest instead of WATCHLIST, e.g. AAPL,PETR4.SA",
    )
    parser.add_argument(
        "--source", choices=SOURCES, help="market data source instead of MARKET_SOURCE"
    )
    parser.add_argument(
        "--bar-interval", choices=BAR_INTERVALS, help="bar size instead of BAR_INTERVAL"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    def work(args: argparse.Namespace, interval: Interval | None, config: Config) -> None:
        overrides: dict[str, object] = {}
        if args.symbols:
            overrides["watchlist"] = args.symbols
        if args.bar_interval:
            overrides["bar_interval"] = args.bar_interval
        if overrides:
            config = dataclasses.replace(config, **overrides)  # type: ignore[arg-type]
        run_ingest(config, interval, source=args.source)

    return run_stage_cli(
        build_parser(), argv, work, {SourceError: EXIT_CONFIG, SourceUnavailable: EXIT_UNAVAILABLE}
    )


if __name__ == "__main__":
    sys.exit(main())
