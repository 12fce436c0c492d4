"""`medallion transform` / `transform`: new bronze objects of an interval -> silver."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from medallion.common.cli import EXIT_CONTRACT, run_stage_cli
from medallion.common.config import Config
from medallion.common.intervals import Interval, add_interval_arguments

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
    from medallion.transformer.job import DataContractError, run_transform

    def work(args: argparse.Namespace, interval: Interval | None, config: Config) -> None:
        run_transform(config, interval)

    return run_stage_cli(build_parser(), argv, work, {DataContractError: EXIT_CONTRACT})


if __name__ == "__main__":
    sys.exit(main())
