"""`medallion <stage>`: one command with a sub-command per pipeline stage.

Each stage also has its own console script (`ingest`, `transform`, `aggregate`,
`publish`) so a pod's command line reads like what it does. The stage modules own
their arguments; this module only dispatches, and imports a stage lazily so that
`medallion ingest` never loads Spark.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

STAGES: dict[str, tuple[str, str]] = {
    "ingest": ("medallion.ingestor.cli", "fetch market data into bronze (raw, write-once)"),
    "transform": ("medallion.transformer.cli", "type, check and de-duplicate bronze into silver"),
    "aggregate": ("medallion.aggregator.cli", "compute the gold daily metrics from silver"),
    "publish": ("medallion.publisher.cli", "publish gold to PostgreSQL atomically"),
    "maintain": ("medallion.maintenance.cli", "OPTIMIZE and VACUUM the Delta tables"),
    "run": ("medallion.runner.cli", "run every stage in one process and write a report"),
}

USAGE = "usage: medallion <stage> [options]   (medallion <stage> --help for a stage's options)"


def _stage_main(name: str) -> Callable[[Sequence[str] | None], int]:
    module = importlib.import_module(STAGES[name][0])
    return module.main


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        lines = [USAGE, "", "stages:"]
        lines += [f"  {name:<10} {text}" for name, (_, text) in STAGES.items()]
        lines += [
            "",
            "Every stage reads its settings from the environment (LAKE_ROOT, S3_ENDPOINT_URL,",
            "ANALYTICS_DSN, MARKET_SOURCE, WATCHLIST, BAR_INTERVAL, ...); see the README.",
        ]
        print("\n".join(lines))
        return 0 if args else 2
    if args[0] not in STAGES:
        print(f"medallion: unknown stage {args[0]!r}\n{USAGE}", file=sys.stderr)
        return 2
    return _stage_main(args[0])(args[1:])


def ingest_main() -> int:
    return _stage_main("ingest")(None)


def transform_main() -> int:
    return _stage_main("transform")(None)


def aggregate_main() -> int:
    return _stage_main("aggregate")(None)


def publish_main() -> int:
    return _stage_main("publish")(None)


if __name__ == "__main__":
    sys.exit(main())
