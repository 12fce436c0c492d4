"""`medallion publish` / `publish`: gold/daily -> PostgreSQL (atomic upsert)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from medallion.common.cli import run_stage_cli
from medallion.common.config import Config
from medallion.common.intervals import Interval, add_interval_arguments

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
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="send every gold row (unchanged rows are still not rewritten)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    def work(args: argparse.Namespace, interval: Interval | None, config: Config) -> None:
        from medallion.publisher.job import run_publish

        config.require_analytics_dsn()  # before Spark starts
        run_publish(config, interval, full_refresh=args.full_refresh)

    return run_stage_cli(build_parser(), argv, work)


if __name__ == "__main__":
    sys.exit(main())
