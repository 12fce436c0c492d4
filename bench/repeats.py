"""Repeats of the backfill's silver + gold, Spark and DuckDB interleaved.

The backfill of bench/run.py runs once, in the bench's own Spark session. Here its
bronze is copied into a fresh lake ``repeats`` times, and each time:

* Spark: `python -m bench.one_process --skip-ingest` over the backfill interval, a fresh
  process (JVM start, Spark start, class loading and JIT included, as a pod pays them),
  publishing to a fresh database;
* DuckDB: the same silver and gold rules on the same bronze files (bench/duckdb_baseline.py),
  into a fresh DuckDB file.

Runs alternate between the two, so a slow spell of the machine lands on both. The figures
are median, minimum and maximum; a target is judged on the medians' ratio.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.measure import ratio, spread
from bench.one_process import run_fresh
from medallion.common.intervals import Interval


def _spark_fresh_process(
    env: dict[str, str], interval: Interval
) -> tuple[dict[str, float], dict[str, int]]:
    wall, printed = run_fresh(env, str(interval.start), str(interval.end), skip_ingest=True)
    seconds = printed["seconds"]
    silver_gold = round(seconds["transform"] + seconds["aggregate"], 3)
    return {
        **seconds,
        "silver_gold": silver_gold,
        "silver_gold_with_spark_start": round(silver_gold + seconds["spark_start"], 3),
        "process_wall": wall,
    }, printed["rows_out"]


def run_repeats(
    lake: Path,
    bronze: Sequence[str],
    work: Path,
    interval: Interval,
    env_for: Callable[[str, str], dict[str, str]],
    new_database: Callable[[], str],
    duckdb_run: Callable[[Sequence[str], str], float],
    repeats: int,
) -> dict[str, Any]:
    """``lake``: the backfill's local lake, ``bronze``: its bronze bodies and sidecars;
    ``env_for(lake_root, dsn)``: the stage environment; ``duckdb_run(paths, db)``:
    DuckDB's silver + gold seconds on those files."""
    spark_runs: list[dict[str, float]] = []
    rows_out: list[dict[str, int]] = []
    duck_runs: list[float] = []
    for n in range(repeats):
        fresh = work / f"repeat-{n}"
        shutil.copytree(lake / "bronze", fresh / "bronze")
        seconds, rows = _spark_fresh_process(env_for(str(fresh), new_database()), interval)
        spark_runs.append(seconds)
        rows_out.append(rows)
        duck_runs.append(duckdb_run(bronze, str(work / f"repeat-{n}.duckdb")))
        shutil.rmtree(fresh, ignore_errors=True)
    spark = {k: spread([r[k] for r in spark_runs]) for k in spark_runs[0]}
    duck = spread(duck_runs)
    return {
        "name": "backfill_repeats",
        "interval": str(interval),
        "repeats": repeats,
        "spark_fresh_process": spark,
        "duckdb_silver_gold": duck,
        "runs": {"spark": spark_runs, "duckdb": duck_runs, "spark_rows_out": rows_out},
        "ratios": {
            "ours_silver_gold_with_spark_start_vs_duckdb_median": ratio(
                spark["silver_gold_with_spark_start"]["median"], duck["median"]
            )
        },
    }
