"""`medallion aggregate` / `aggregate`: silver -> gold/daily metrics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from medallion.common.config import ConfigError, load_config
from medallion.common.intervals import add_interval_arguments, interval_from_args

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
    parser = build_parser()
    args = parser.parse_args(argv)
    interval = interval_from_args(args, parser)
    assert interval is not None
    from medallion.common.logs import setup_logging

    setup_logging()
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    from medallion.aggregator.job import run_aggregate

    try:
        run_aggregate(config, interval, full_refresh=args.full_refresh)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
