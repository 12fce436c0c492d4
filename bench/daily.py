"""The daily run as the cluster runs it, and `make run SOURCE=synthetic`.

* ``make_run``: `medallion run` of the synthetic source's default watchlist over 400
  days (what `make run SOURCE=synthetic` does; the tiny scale: 20), ``repeats`` times,
  each in a fresh lake and database: its pipeline time (the four stages, as the run
  prints it) and the process's wall time, median, minimum and maximum.
  Like `make run`, it starts its driver from the clone's class-data-sharing archive
  (`make cds`) when there is one and ``cds`` is on; the result names the archive.
* ``daily``: one more trading day on top of that year of history, run ``repeats``
  times in each of two shapes, interleaved: every stage as its own process
  (`medallion <stage> --start D --end D+1`, as the pods run them) and the four stages
  in one process (bench/one_process.py, the shape of `make run` without its report).
  With ``cds`` the separate-process shape is also run with a class-data-sharing archive
  of the driver JVM (SPARK_CDS_ARCHIVE), written by one untimed training run first.

Every figure is a process's wall time as a user waits for it (Python start, imports,
Spark start included). Each shape runs on its own trading days, so no run is a rerun.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.measure import ratio, spread, timed_process
from bench.one_process import run_fresh
from bench.workload import trading_days
from medallion.common.intervals import Interval

STAGES = ("ingest", "transform", "aggregate", "publish")
# Fixed in the past, so the synthetic source serves every day and no run depends on today.
HISTORY_END = date(2026, 6, 1)
MEDALLION = Path(sys.executable).with_name("medallion")


def _env(base: dict[str, str], lake: Path, dsn: str, **extra: str) -> dict[str, str]:
    # SPARK_CDS_ARCHIVE of this process (tools/run-tests.sh sets it) is left out: a shape
    # gets one only from `base` (bench.run --archive), or as `make run` or the _cds shape
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MEDALLION_FAULT") and k != "SPARK_CDS_ARCHIVE"
    }
    return {
        **keep,
        **base,
        "LAKE_ROOT": str(lake),
        "MARKET_SOURCE": "synthetic",
        "ANALYTICS_DSN": dsn,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def _day_args(day: date) -> list[str]:
    return ["--start", str(day), "--end", str(day + timedelta(days=1))]


def separate_processes(env: dict[str, str], day: date) -> dict[str, float]:
    """Each stage as its own `medallion <stage>` process; seconds per stage and total."""
    seconds = {}
    for stage in STAGES:
        seconds[stage], _ = timed_process([str(MEDALLION), stage, *_day_args(day)], env, stage)
    seconds["total"] = round(sum(seconds[s] for s in STAGES), 3)
    return seconds


def one_process(env: dict[str, str], day: date) -> dict[str, float]:
    """The four stages in one process; its wall time and what it spent inside."""
    wall, printed = run_fresh(env, str(day), str(day + timedelta(days=1)))
    return {**printed["seconds"], "total": wall}


def run_make_run(env: dict[str, str], report_dir: Path, history_days: int) -> dict[str, Any]:
    interval = Interval(HISTORY_END - timedelta(days=history_days), HISTORY_END)
    argv = [str(MEDALLION), "run", "--start", str(interval.start), "--end", str(interval.end)]
    wall, _ = timed_process([*argv, "--report", str(report_dir)], env, "medallion run")
    summary = json.loads((report_dir / "summary.json").read_text())
    return {
        "interval": str(interval),
        "symbols": len(summary["watchlist"]),
        "seconds": {
            **{s["stage"]: s["seconds"] for s in summary["stages"]},
            "pipeline": summary["seconds_total"],
            "process_wall": wall,
        },
        "layers": summary["layers"],
    }


def repeated_make_run(
    work: Path,
    env: dict[str, str],
    history_days: int,
    repeats: int,
    fresh_database: Callable[[], str] | None,
) -> dict[str, Any]:
    """`make run` ``repeats`` times, each into a fresh lake (and, given
    ``fresh_database``, a fresh database): median, minimum and maximum of every figure.
    The last run's lake stays: it is the year of history the daily scenario builds on."""
    runs = []
    for i in range(repeats):
        last = i == repeats - 1
        lake = Path(env["LAKE_ROOT"]) if last else work / f"make-run-lake-{i}"
        run_env = {**env, "LAKE_ROOT": str(lake)}
        if fresh_database is not None and not last:
            run_env["ANALYTICS_DSN"] = fresh_database()
        runs.append(run_make_run(run_env, work / f"make-run-report-{i}", history_days))
        if not last:
            shutil.rmtree(lake, ignore_errors=True)
    return {
        "interval": runs[-1]["interval"],
        "symbols": runs[-1]["symbols"],
        "repeats": repeats,
        "seconds": {k: spread([r["seconds"][k] for r in runs]) for k in runs[0]["seconds"]},
        "runs": [r["seconds"] for r in runs],
        "layers": runs[-1]["layers"],
    }


def run_daily(
    work: Path,
    env_base: dict[str, str],
    dsn: str,
    history_days: int,
    repeats: int,
    cds: bool,
    clone_archive: Path | None = None,
    fresh_database: Callable[[], str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the make_run scenario, the daily scenario). ``clone_archive``: the archive `make
    run` starts its driver from (the clone's, from `make cds`), if there is one;
    ``fresh_database``: a new database for each repeat of `make run` but the last."""
    lake = work / "daily-lake"
    env = _env(env_base, lake, dsn)
    make_run_env = {**env, "SPARK_CDS_ARCHIVE": str(clone_archive)} if clone_archive else env
    make_run = {
        "name": "make_run",
        **repeated_make_run(work, make_run_env, history_days, repeats, fresh_database),
        "cds_archive": make_run_env.get("SPARK_CDS_ARCHIVE"),
    }

    shapes = ["separate_processes", "one_process"]
    env_of = {"separate_processes": env, "one_process": env}
    archive_bytes = None
    days = iter(trading_days(repeats * 3 + 1, first=HISTORY_END))
    if cds:
        archive = work / "spark-driver.jsa"
        env_cds = {**env, "SPARK_CDS_ARCHIVE": str(archive)}
        separate_processes(env_cds, next(days))  # training: the archive is written at exit
        archive_bytes = archive.stat().st_size if archive.is_file() else None
        shapes.append("separate_processes_cds")
        env_of["separate_processes_cds"] = env_cds
    runs: dict[str, list[dict[str, float]]] = {shape: [] for shape in shapes}
    for _ in range(repeats):
        for shape in shapes:  # interleaved: a slow spell of the machine hits every shape
            run = one_process if shape == "one_process" else separate_processes
            runs[shape].append(run(env_of[shape], next(days)))

    def summary(shape: str) -> dict[str, Any]:
        keys = runs[shape][0].keys()
        return {k: spread([r[k] for r in runs[shape]]) for k in keys}

    figures = {shape: summary(shape) for shape in shapes}
    ratios = {
        "separate_vs_one_process": ratio(
            figures["separate_processes"]["total"]["median"],
            figures["one_process"]["total"]["median"],
        )
    }
    if cds:
        ratios["separate_cds_vs_one_process"] = ratio(
            figures["separate_processes_cds"]["total"]["median"],
            figures["one_process"]["total"]["median"],
        )
        ratios["separate_cds_vs_separate"] = ratio(
            figures["separate_processes_cds"]["total"]["median"],
            figures["separate_processes"]["total"]["median"],
        )
    daily = {
        "name": "daily",
        "history": make_run["interval"],
        "symbols": make_run["symbols"],
        "repeats": repeats,
        "seconds": figures,
        "runs": runs,
        "cds_archive_bytes": archive_bytes,
        "ratios": ratios,
    }
    return make_run, daily
