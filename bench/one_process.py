"""The four stages in one process with one Spark session (the shape of `make run`),
without the run's report: ``python -m bench.one_process --start D --end E``.

Prints one JSON line: seconds per stage and for the Spark session's start, the rows
each stage wrote and the driver JVM's peak memory. The daily
scenario (bench/daily.py) times this process against the same stages run as separate
processes, the way the pods run them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from bench.measure import JvmMemory, timed_process
from medallion.common.config import load_config
from medallion.common.intervals import add_interval_arguments, interval_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.one_process")
    add_interval_arguments(parser)
    parser.add_argument(
        "--skip-ingest", action="store_true", help="bronze is already there (bench/repeats.py)"
    )
    args = parser.parse_args(argv)
    interval = interval_from_args(args, parser)

    from medallion.aggregator.job import run_aggregate
    from medallion.common.spark import build_spark_session
    from medallion.ingestor.job import run_ingest
    from medallion.publisher.job import run_publish
    from medallion.transformer.job import run_transform

    config = load_config()
    seconds: dict[str, float] = {}
    rows_out: dict[str, int] = {}

    def timed(name: str, step) -> object:
        started = time.perf_counter()
        result = step()
        seconds[name] = round(time.perf_counter() - started, 3)
        if hasattr(result, "summary"):
            rows_out[name] = result.summary().get("rows_out")
        return result

    if not args.skip_ingest:
        timed("ingest", lambda: run_ingest(config, interval))
    spark = timed(
        "spark_start", lambda: build_spark_session(config, "medallion-one-process", interval)
    )
    timed("transform", lambda: run_transform(config, interval, spark=spark))
    timed("aggregate", lambda: run_aggregate(config, interval, spark=spark))
    timed("publish", lambda: run_publish(config, interval, spark=spark))
    memory = JvmMemory(spark).peak()  # the driver JVM's peak since it started
    spark.stop()
    printed = {"seconds": seconds, "rows_out": rows_out, "driver_memory": memory}
    print(json.dumps(printed), flush=True)
    return 0


def run_fresh(
    env: dict[str, str], start: str, end: str, skip_ingest: bool = False
) -> tuple[float, dict[str, Any]]:
    """This module as a fresh process: (its wall time, the JSON it printed)."""
    argv = [sys.executable, "-m", "bench.one_process", "--start", start, "--end", end]
    wall, out = timed_process(argv + (["--skip-ingest"] if skip_ingest else []), env, "one")
    return wall, json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    raise SystemExit(main())
