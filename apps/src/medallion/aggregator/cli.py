"""`medallion aggregate` / `aggregate`: silver -> gold/daily metrics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from medallion.common.cli import run_stage_cli
from medallion.common.config import Config
from medallion.common.intervals import Interval, add_interval_arguments

PROG = "medallion aggregate"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Compute the gold daily table (OHLCV, VWAP, returns, SMA 20/50/200, 20-day "
            "volatility, drawdown, 52-week range) from silver/prices. Only the symbols and "
            "days that silver changed since the last run are recomputed (plus the look-back "
            "the moving windows need); running it again with nothing new changes nothing. "
            "Settings come from the environment (LAKE_ROOT, S3_ENDPOINT_URL, AWS_*)."
        ),
        epilog="exit codes: 0 ok, 2 bad configuration or arguments",
    )
    add_interval_arguments(parser, required=True)
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="recompute every symbol and day from silver (e.g. after a metric definition changed)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    def work(args: argparse.Namespace, interval: Interval | None, config: Config) -> None:
        from medallion.aggregator.job import run_aggregate

        run_aggregate(config, interval, full_refresh=args.full_refresh)

    return run_stage_cli(build_parser(), argv, work)


if __name__ == "__main__":
    sys.exit(main())
