"""`medallion publish` / `publish`: gold/daily -> PostgreSQL (atomic upsert)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from medallion.common.config import ConfigError, load_config
from medallion.common.intervals import add_interval_arguments, interval_from_args

PROG = "medallion publish"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Publish the gold daily rows changed since the last publish to the PostgreSQL "
            "table public.gold_daily (DSN from ANALYTICS_DSN). The table's DDL comes from "
            "the SQL files in this repository; rows are staged with COPY and upserted in "
            "one transaction, so readers never see an empty or half-loaded table."
        ),
        epilog="exit codes: 0 ok, 2 bad configuration or arguments (e.g. ANALYTICS_DSN unset)",
    )
    add_interval_arguments(parser, required=True)
    parser.add_argument("--full-refresh", action="store_true",
                        help="send every gold row (unchanged rows are still not rewritten)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    interval = interval_from_args(args, parser)
    assert interval is not None
    from medallion.common.logs import setup_logging

    setup_logging()
    try:
        config = load_config()
        config.require_analytics_dsn()
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    from medallion.publisher.job import run_publish

    try:
        run_publish(config, interval, full_refresh=args.full_refresh)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
