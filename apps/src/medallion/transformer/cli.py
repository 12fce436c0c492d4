"""`medallion transform` / `transform`: new bronze objects of an interval -> silver."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from medallion.common.config import ConfigError, load_config
from medallion.common.intervals import add_interval_arguments, interval_from_args

PROG = "medallion transform"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Type, check and de-duplicate the bronze objects ingested in the interval "
            "(by ingest_date) into the Delta tables silver/prices and silver/quarantine. "
            "Only objects not yet in the manifest silver/_processed are read, so running "
            "an interval again changes nothing. Settings come from the environment "
            "(LAKE_ROOT, S3_ENDPOINT_URL, AWS_*, WATCHLIST, SPARK_MASTER)."
        ),
        epilog=(
            "exit codes: 0 ok, 2 bad configuration or arguments, "
            "4 data contract violated (rows parsed != accepted + quarantined)"
        ),
    )
    add_interval_arguments(parser, required=True)
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
    from medallion.transformer.job import DataContractError, run_transform

    try:
        run_transform(config, interval)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except DataContractError as exc:
        print(f"{PROG}: data contract violated: {exc}", file=sys.stderr)
        return DataContractError.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
