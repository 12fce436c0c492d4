"""Scale-out: the backfill's silver + gold in local mode and on a Spark standalone cluster.

The backfill's bronze is copied into a fresh MinIO bucket for every run, and silver + gold
run as the pods run them: `medallion transform` then `medallion aggregate`, each its own
process, configured by the environment only. Four execution modes, on the same kind of lake
(MinIO: executors share no disk with the driver), so only the mode differs:

* ``local_1``: ``local[1]``, the driver JVM runs the tasks on one core;
* ``local_2``: ``local[2]``;
* ``cluster_1``: a standalone cluster of ONE one-core worker (tools/spark_standalone.py);
* ``cluster_2``: a standalone cluster of TWO one-core workers.

Runs are interleaved (every mode once, then again), so a slow spell of the machine lands on
every mode. Each run's gold must equal the first run's (tests/canonical.py's form: every row,
floats to 12 digits) and its silver the same rows (an order-free checksum in Spark).

Every stage process writes a Spark event log (SPARK_CONF_DIR/spark-defaults.conf, no code
change in the jobs), read back here to split its wall time into what ran as tasks
(core-seconds of work, per executor) and what did not (process, JVM and Spark start,
executors' launch, the driver's own work: listing, Delta log, commits). That split is what
bench/README.md's scale-out model is built from.

Standalone, without the rest of the benchmark (bronze from one ingest over real HTTP)::

    .venv/bin/python -m bench.scaleout --scale full --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.measure import load_average, ratio, save_separate_run, spread, timed_process
from bench.workload import REPO_ROOT
from medallion.common.config import load_config
from medallion.common.intervals import Interval

MEDALLION = Path(sys.executable).with_name("medallion")
STAGES = ("transform", "aggregate")
# name -> (workers of the standalone cluster, or 0 for local mode; executor cores)
MODES = {"local_1": (0, 1), "local_2": (0, 2), "cluster_1": (1, 1), "cluster_2": (2, 2)}


def _tools() -> Any:
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    import spark_standalone  # tools/spark_standalone.py

    return spark_standalone


# --------------------------------------------------------------------------- the lake
def s3_env(minio: Any) -> dict[str, str]:
    return {
        "S3_ENDPOINT_URL": minio.endpoint,
        "AWS_ACCESS_KEY_ID": minio.access_key,
        "AWS_SECRET_ACCESS_KEY": minio.secret_key,
    }


def s3_client(minio: Any) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=minio.endpoint,
        aws_access_key_id=minio.access_key,
        aws_secret_access_key=minio.secret_key,
        region_name="us-east-1",
    )


def upload_bronze(client: Any, bucket: str, root: Path) -> int:
    """Every file under ``root/bronze`` to ``s3://bucket/lake/bronze/...`` (same keys)."""
    files = [p for p in (root / "bronze").rglob("*") if p.is_file()]
    client.create_bucket(Bucket=bucket)

    def put(path: Path) -> None:
        client.upload_file(str(path), bucket, f"lake/{path.relative_to(root).as_posix()}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))
    return len(files)


def drop_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


# --------------------------------------------------------------------------- event logs
def event_log_conf(folder: Path) -> Path:
    """A SPARK_CONF_DIR whose spark-defaults.conf makes the driver log its events in
    ``folder/events`` (the job code sets nothing of this; spark-submit reads the file)."""
    events = folder / "events"
    events.mkdir(parents=True, exist_ok=True)
    (folder / "spark-defaults.conf").write_text(
        "spark.eventLog.enabled true\n"
        f"spark.eventLog.dir {events.as_uri()}\n"
        "spark.eventLog.compress false\n"
        "spark.eventLog.rolling.enabled false\n"
    )
    return folder


def _union_seconds(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def event_figures(events: Path, started_epoch: float, wall: float) -> dict[str, Any]:
    """What one stage process's event log says, in seconds from its start:

    * ``to_app_start``: Python, imports, JVM and SparkContext until the application starts;
    * ``first_executor``: from then until the first executor registers (a cluster's
      executors are JVMs a worker launches; None in local mode, where it is the driver);
    * ``task_seconds``: core-seconds tasks ran (launch to finish), in all and per executor;
      ``task_cpu_seconds``: CPU they used (less: waiting on S3, on the other processes);
    * ``tasks_busy``: wall time with at least one task running; ``outside_tasks``: the
      rest of the process's wall time (fixed costs and the driver's own serial work).
    """
    logs = [p for p in events.iterdir() if p.is_file()]
    if len(logs) != 1:
        raise RuntimeError(f"expected one event log in {events}, found {logs}")
    app_start = None
    executors: dict[str, float] = {}
    tasks: list[tuple[str, float, float, float]] = []
    stage_tasks: dict[int, int] = {}
    with logs[0].open() as lines:
        for line in lines:
            event = json.loads(line)
            kind = event.get("Event")
            if kind == "SparkListenerApplicationStart":
                app_start = event["Timestamp"] / 1000
            elif kind == "SparkListenerExecutorAdded":
                executors[event["Executor ID"]] = event["Timestamp"] / 1000
            elif kind == "SparkListenerTaskEnd":
                info = event["Task Info"]
                cpu = (event.get("Task Metrics") or {}).get("Executor CPU Time", 0) / 1e9
                tasks.append(
                    (
                        info["Executor ID"],
                        info["Launch Time"] / 1000,
                        info["Finish Time"] / 1000,
                        cpu,
                    )
                )
                stage_tasks[event["Stage ID"]] = stage_tasks.get(event["Stage ID"], 0) + 1
    per_executor: dict[str, float] = {}
    for executor, launched, finished, _ in tasks:
        per_executor[executor] = per_executor.get(executor, 0.0) + finished - launched
    busy = _union_seconds([(a, b) for _, a, b, _ in tasks])
    # local mode's one executor is the driver: only a cluster's executors are launched
    first = min((t for e, t in executors.items() if e != "driver"), default=None)
    return {
        "to_app_start": round(app_start - started_epoch, 3) if app_start else None,
        "first_executor": round(first - app_start, 3) if first and app_start else None,
        "executors": len(executors),
        "tasks": len(tasks),
        "spark_stages": len(stage_tasks),
        "max_tasks_in_a_spark_stage": max(stage_tasks.values(), default=0),
        "task_seconds": round(sum(per_executor.values()), 3),
        "task_seconds_per_executor": {k: round(v, 3) for k, v in sorted(per_executor.items())},
        "task_cpu_seconds": round(sum(t[3] for t in tasks), 3),
        "tasks_busy": round(busy, 3),
        "outside_tasks": round(wall - busy, 3),
    }


# --------------------------------------------------------------------------- one run
def _lake_config(env: dict[str, str]) -> Any:
    return load_config(env)


def point_s3a_at(spark: Any, env: dict[str, str]) -> None:
    """The orchestrator's own session reads the runs' lakes: the S3A settings the jobs use
    (medallion.common.spark), set on its Hadoop configuration (its lake may be local)."""
    from medallion.common.spark import spark_conf

    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in spark_conf(_lake_config(env), "check").items():
        if key.startswith("spark.hadoop."):
            hconf.set(key[len("spark.hadoop.") :], value)


def lake_forms(spark: Any, env: dict[str, str]) -> dict[str, Any]:
    """Gold in tests/canonical.py's form; silver's rows and an order-free checksum of the
    columns canonical compares (the lineage columns carry the run's object names)."""
    from pyspark.sql import functions as F

    from tests.canonical import SILVER_COLUMNS, gold_form

    config = _lake_config(env)
    silver = spark.read.format("delta").load(config.lake_path("silver", "prices"))
    row = silver.select(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.xxhash64(*SILVER_COLUMNS).cast("decimal(38,0)")).alias("checksum"),
    ).first()
    return {"gold": gold_form(spark, config), "silver": (row["rows"], str(row["checksum"]))}


def run_mode(
    mode: str,
    master: str,
    env_base: dict[str, str],
    minio: Any,
    bronze_root: Path,
    interval: Interval,
    folder: Path,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Silver + gold of ``interval`` on a fresh copy of the bronze, as two stage processes;
    (the run's figures, its environment)."""
    client = s3_client(minio)
    bucket = folder.name.replace("_", "-")
    objects = upload_bronze(client, bucket, bronze_root)
    env = {
        **env_base,
        **s3_env(minio),
        "LAKE_ROOT": f"s3://{bucket}/lake",
        "SPARK_MASTER": master,
        "LOG_LEVEL": "WARNING",
    }
    args = ["--start", str(interval.start), "--end", str(interval.end)]
    seconds: dict[str, float] = {}
    spark_side: dict[str, Any] = {}
    for stage in STAGES:
        conf = event_log_conf(folder / stage)
        started = time.time()
        seconds[stage], _ = timed_process(
            [str(MEDALLION), stage, *args], {**env, "SPARK_CONF_DIR": str(conf)}, f"{mode} {stage}"
        )
        spark_side[stage] = event_figures(conf / "events", started, seconds[stage])
    seconds["silver_gold"] = round(sum(seconds[s] for s in STAGES), 3)
    return {"mode": mode, "bronze_objects": objects, "seconds": seconds, "spark": spark_side}, env


@contextlib.contextmanager
def clusters(work: Path) -> Iterator[dict[str, str]]:
    """mode -> SPARK_MASTER; the standalone clusters of the cluster modes run throughout
    (idle between runs) and are stopped here, by the code that started them."""
    tools = _tools()
    started = []
    try:
        masters = {}
        for mode, (workers, cores) in MODES.items():
            if workers == 0:
                masters[mode] = f"local[{cores}]"
                continue
            cluster = tools.SparkStandalone.start(work / f"spark-{mode}", workers=workers)
            started.append(cluster)
            masters[mode] = cluster.url
        yield masters
    finally:
        for cluster in started:
            cluster.stop()


def run_scaleout(
    spark: Any,
    minio: Any,
    bronze_root: Path,
    work: Path,
    interval: Interval,
    env_base: dict[str, str],
    bars: int,
    repeats: int,
) -> dict[str, Any]:
    """``spark``: a session of this process (reads the runs' lakes); ``minio``: a
    tools/servers.py MinioServer; ``bronze_root``: the folder holding the backfill's
    ``bronze/``; ``env_base``: the stage environment without lake and master."""
    work = work / "scaleout"
    work.mkdir(parents=True, exist_ok=True)
    env_base = {**env_base, **_tools().spark_env(work / "spark-logs")}
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    reference = None
    load_at_start = load_average()
    with clusters(work) as masters:
        for n in range(repeats):
            for mode in MODES:  # interleaved: a slow spell of the machine hits every mode
                folder = work / f"{mode}_{n}"
                print(f"bench: scale-out {mode}, run {n + 1} of {repeats} ...", flush=True)
                run, env = run_mode(
                    mode, masters[mode], env_base, minio, bronze_root, interval, folder
                )
                point_s3a_at(spark, env)
                forms = lake_forms(spark, env)
                reference = reference or forms
                run["gold_rows"] = sum(forms["gold"].values())
                run["silver_rows"] = forms["silver"][0]
                run["same_tables_as_first_run"] = forms == reference
                runs[mode].append(run)
                drop_bucket(s3_client(minio), env["LAKE_ROOT"].split("/")[2])
                shutil.rmtree(folder, ignore_errors=True)
    return summarise(runs, bars, interval, repeats, load_at_start)


def summarise(
    runs: dict[str, list[dict[str, Any]]],
    bars: int,
    interval: Interval,
    repeats: int,
    load_at_start: list[float] | None,
) -> dict[str, Any]:
    def med(mode: str, path: tuple[str, ...]) -> dict[str, Any]:
        values = []
        for run in runs[mode]:
            value: Any = run
            for key in path:
                value = value[key]
            values.append(value)
        return spread(values)

    modes: dict[str, Any] = {}
    for mode, (workers, cores) in MODES.items():
        seconds = {k: med(mode, ("seconds", k)) for k in (*STAGES, "silver_gold")}
        total = seconds["silver_gold"]["median"]
        spark_side = {
            stage: {
                k: med(mode, ("spark", stage, k))
                for k in ("to_app_start", "first_executor", "task_seconds", "task_cpu_seconds")
                + ("tasks_busy", "outside_tasks")
                if runs[mode][0]["spark"][stage][k] is not None
            }
            for stage in STAGES
        }
        task_seconds = sum(spark_side[s]["task_seconds"]["median"] for s in STAGES)
        modes[mode] = {
            "spark_master": "local" if workers == 0 else f"standalone, {workers} worker(s)",
            "executor_cores": cores,
            "seconds": seconds,
            "bars_per_second": round(bars / total) if total else None,
            "bars_per_second_per_core": round(bars / total / cores) if total else None,
            # the work itself: bars per core-second that tasks ran (both stages)
            "bars_per_task_core_second": round(bars / task_seconds) if task_seconds else None,
            "spark": spark_side,
            "tasks_per_run": {s: runs[mode][0]["spark"][s]["tasks"] for s in STAGES},
            "max_tasks_in_a_spark_stage": {
                s: runs[mode][0]["spark"][s]["max_tasks_in_a_spark_stage"] for s in STAGES
            },
        }

    def sg(mode: str) -> float | None:
        return modes[mode]["seconds"]["silver_gold"]["median"]

    same = all(run["same_tables_as_first_run"] for rs in runs.values() for run in rs)
    return {
        "name": "scaleout",
        "interval": str(interval),
        "bars": bars,
        "repeats": repeats,
        "lake": "minio (every mode)",
        "modes": modes,
        "cluster_overhead_seconds": {
            # the same one core: what running on a standalone cluster adds
            "silver_gold": round(sg("cluster_1") - sg("local_1"), 3),
            **{
                s: round(
                    modes["cluster_1"]["seconds"][s]["median"]
                    - modes["local_1"]["seconds"][s]["median"],
                    3,
                )
                for s in STAGES
            },
        },
        "same_tables": same,
        "runs": runs,
        "load_average_1_5_15": {"start": load_at_start, "end": load_average()},
        "ratios": {
            "cluster_1_vs_local_1": ratio(sg("cluster_1"), sg("local_1")),
            "local_1_vs_local_2": ratio(sg("local_1"), sg("local_2")),
            "cluster_1_vs_cluster_2": ratio(sg("cluster_1"), sg("cluster_2")),
        },
    }


def format_scaleout(s: dict[str, Any]) -> list[str]:
    """Lines for bench/run.py's table."""
    lines = [f"  scale-out, silver+gold of {s['bars']:,} bars (lake on MinIO, n={s['repeats']}):"]
    for mode, m in s["modes"].items():
        sec = m["seconds"]
        lines.append(
            f"    {mode:<10}{m['spark_master']:<26}{sec['silver_gold']['median']:>8.2f} s "
            f"(transform {sec['transform']['median']:.1f}, aggregate "
            f"{sec['aggregate']['median']:.1f}; min {sec['silver_gold']['min']:.1f}, max "
            f"{sec['silver_gold']['max']:.1f})  {m['bars_per_second']:,} bars/s, "
            f"{m['bars_per_second_per_core']:,}/s per core"
        )
    lines.append(
        f"    cluster overhead on one core: {s['cluster_overhead_seconds']['silver_gold']:+.2f} s;"
        f" same tables in every mode: {s['same_tables']}"
    )
    return lines


# --------------------------------------------------------------------------- standalone
def main(argv: list[str] | None = None) -> int:
    """Only this scenario: the backfill's bronze from one ingest over real HTTP (no Spark),
    then the four modes. Its result goes under ``separate_runs.scaleout`` of the results
    file (default bench/results.json)."""
    from bench.run import bench_env
    from bench.workload import SCALES, LatencyServer, symbols, timeline
    from medallion.common.spark import build_spark_session
    from medallion.ingestor.job import run_ingest

    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--repeats", type=int, default=None, help="default: the scale's")
    parser.add_argument("--work-dir", help="scratch directory (default: a temp dir)")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results.json"))
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    tl = timeline(scale)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="medallion-scaleout-"))
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    import servers  # tools/servers.py

    jars = {k: v for k, v in os.environ.items() if k == "MEDALLION_JARS_DIR"}
    minio = servers.MinioServer.start(work / "minio")
    spark = None
    try:
        with LatencyServer(50.0, scale.bars_per_day) as api:
            env = bench_env(jars, str(work / "lake"), api.base_url, symbols(scale.symbols), 8, "")
            env = {**os.environ, **{k: v for k, v in env.items() if k != "ANALYTICS_DSN"}}
            print(f"bench: ingest of the backfill {tl.backfill} ...", flush=True)
            ingest = run_ingest(load_config(env), tl.backfill, now=tl.backfill.end_utc)
        check = {
            **jars,
            **s3_env(minio),
            "LAKE_ROOT": "s3://check/lake",
            "SPARK_MASTER": "local[1]",
        }
        spark = build_spark_session(load_config(check), "medallion-scaleout-check")
        result = run_scaleout(
            spark,
            minio,
            work / "lake",
            work,
            tl.backfill,
            env,
            ingest.bars_fetched,
            args.repeats or scale.repeats,
        )
    finally:
        if spark is not None:
            spark.stop()
        minio.stop()
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    result["scale"] = scale.describe()
    save_separate_run(Path(args.output), "scaleout", result)
    print("\n".join(format_scaleout(result)))
    print(f"\nresults: {args.output} (separate_runs.scaleout)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
