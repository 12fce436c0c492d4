"""`medallion maintain`: compact and vacuum the Delta tables (retention >= 7 days)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence

from medallion.common.cli import run_stage_cli
from medallion.common.config import Config
from medallion.maintenance.tables import MIN_RETENTION_HOURS, run_maintenance


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medallion maintain",
        description="OPTIMIZE (compact small files) and VACUUM the silver and gold Delta tables. "
        "Run it while no stage writes: Delta on S3 allows one writer per table.",
    )
    parser.add_argument(
        "--retain-hours",
        type=int,
        default=MIN_RETENTION_HOURS,
        help=f"VACUUM retention in hours (minimum and default {MIN_RETENTION_HOURS})",
    )
    parser.add_argument("--no-vacuum", action="store_true", help="compact only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()

    def work(args: argparse.Namespace, _interval: object, config: Config) -> None:
        if args.retain_hours < MIN_RETENTION_HOURS:
            parser.error(f"--retain-hours must be at least {MIN_RETENTION_HOURS} (7 days)")
        result = run_maintenance(config, args.retain_hours, vacuum=not args.no_vacuum)
        print(json.dumps({"stage": "maintain", **dataclasses.asdict(result)}))

    return run_stage_cli(parser, argv, work)
