"""`make bench`: measure the pipeline's speed and how its cost grows with history.

    .venv/bin/python -m bench.run --scale small          # ~2 minutes
    .venv/bin/python -m bench.run --scale full           # ~1M one-minute bars

Scenarios (one object each in bench/results.json):

* ``backfill``: ``days`` trading days of ``symbols`` x 390 one-minute bars through
  ingest (real HTTP against the latency server) -> silver -> gold -> PostgreSQL;
  time per stage, end to end (Spark start included), rows/s, driver peak memory.
* ``duckdb_floor``: the same silver + gold logic in DuckDB on the same bronze objects,
  cross-checked value by value against the Spark gold.
* ``incremental``: one more trading day on top of ``days`` and of ``history_long``
  days of history, each against the naive full rebuild on the same bronze.
* ``ingest``: payloads/s against the latency server at the configured concurrency
  (cold: the server generates each payload; warm: it answers from its cache).
* ``scaleout``: the backfill's silver + gold on MinIO in local[1], local[2] and on a Spark
  standalone cluster of one and of two one-core workers (bench/scaleout.py).

Nothing here is asserted: the targets of the issue are reported as met / not met.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.measure import JvmMemory, Stopwatch, load_average, machine_facts, ratio
from bench.workload import REPO_ROOT, SCALES, LatencyServer, Scale, symbols, timeline
from medallion.common.cds import current as cds_current
from medallion.common.config import Config, load_config
from medallion.common.intervals import Interval

logger = logging.getLogger("bench")

GIB = 1024**3
STAGES = ("ingest", "transform", "aggregate", "publish")


# --------------------------------------------------------------------------- servers
class Servers:
    """PostgreSQL (and MinIO for ``--lake minio``) from tools/servers.py, on 127.0.0.1."""

    def __init__(self, work: Path, dsn: str | None, lake: str) -> None:
        sys.path.insert(0, str(REPO_ROOT / "tools"))
        import servers  # tools/servers.py

        self._servers = servers
        self.work = work
        self.pg = None
        self.minio = None
        self.admin_dsn = dsn
        if dsn is None:
            self.pg = servers.PostgresServer.start(work / "postgres")
            self.admin_dsn = self.pg.dsn()
        if lake == "minio":
            self.minio = servers.MinioServer.start(work / "minio")

    def object_store(self) -> Any:
        """The MinIO server: the lake's, or one started for a scenario that needs S3."""
        if self.minio is None:
            self.minio = self._servers.MinioServer.start(self.work / "minio")
        return self.minio

    def database(self) -> str:
        """A fresh database on the server (the DSN the publisher gets)."""
        import psycopg

        name = "bench_" + secrets.token_hex(4)
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return urlunsplit(urlsplit(self.admin_dsn)._replace(path="/" + name))

    def stop(self) -> None:
        if self.minio is not None:
            self.minio.stop()
        if self.pg is not None:
            self.pg.discard()


def postgres_version(dsn: str) -> str:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])


# --------------------------------------------------------------------------- stages
def run_stages(
    config: Config, interval: Interval, spark: Any, watch: Stopwatch, prefix: str = ""
) -> dict[str, Any]:
    """ingest -> transform -> aggregate -> publish for ``interval``, each timed."""
    from medallion.aggregator.job import run_aggregate
    from medallion.ingestor.job import run_ingest
    from medallion.publisher.job import run_publish
    from medallion.transformer.job import run_transform

    steps = {
        # a live source is bounded by `now`: run as if right at the end of the interval
        "ingest": lambda: run_ingest(config, interval, now=interval.end_utc),
        "transform": lambda: run_transform(config, interval, spark=spark),
        "aggregate": lambda: run_aggregate(config, interval, spark=spark),
        "publish": lambda: run_publish(config, interval, spark=spark),
    }
    counts: dict[str, Any] = {}
    for name, step in steps.items():
        result = watch.run(prefix + name, step)
        summary = result.summary() if hasattr(result, "summary") else {}
        counts[name] = {k: summary.get(k) for k in ("rows_in", "rows_out", "quarantined")}
        if name == "ingest":
            counts[name]["requests"] = summary.get("requests")
            counts[name]["errors"] = summary.get("errors")
    return counts


def stage_seconds(watch: Stopwatch, prefix: str = "") -> dict[str, float]:
    return {s: watch.laps[prefix + s] for s in STAGES}


def target(name: str, value: float | None, op: str, limit: float, unit: str) -> dict[str, Any]:
    met = None if value is None else (value <= limit if op == "<=" else value >= limit)
    return {"target": name, "value": value, "limit": f"{op} {limit:g}{unit}", "met": met}


# --------------------------------------------------------------------------- scenarios
def bench_env(
    env_base: dict[str, str],
    lake_root: str,
    base_url: str,
    watchlist: list[str],
    concurrency: int,
    dsn: str,
) -> dict[str, str]:
    return {
        **env_base,
        "LAKE_ROOT": lake_root,
        "MARKET_SOURCE": "yahoo",
        "YAHOO_BASE_URL": base_url,
        "WATCHLIST": ",".join(watchlist),
        "BAR_INTERVAL": "1m",
        "HTTP_CONCURRENCY": str(concurrency),
        "HTTP_RATE_PER_S": "100000",  # the latency is the limit here, not politeness
        "HTTP_TIMEOUT_S": "60",
        "HTTP_BREAKER_THRESHOLD": "50",
        "ANALYTICS_DSN": dsn,
        "SPARK_MASTER": env_base.get("SPARK_MASTER", "local[*]"),
    }


def outer_env() -> dict[str, str]:
    """This process's environment for a stage process, without SPARK_CDS_ARCHIVE (tools/
    run-tests.sh sets it): a driver starts from an archive only when the run says so
    (``--archive``, or the daily scenario's own shapes)."""
    return {k: v for k, v in os.environ.items() if k != "SPARK_CDS_ARCHIVE"}


def bench_config(*args: Any) -> Config:
    return load_config(bench_env(*args))


def bronze_paths(config: Config, work: Path) -> list[str]:
    """Local paths of every bronze body and sidecar (S3 lakes are mirrored first)."""
    from medallion.common.storage import store_from_config
    from medallion.ingestor.bronze import list_bronze_objects

    store = store_from_config(config)
    keys = [b.key for b in list_bronze_objects(store)]
    keys += [k[: -len(".json")] + ".meta.json" for k in keys]
    if not config.is_s3:
        return [store.uri(k) for k in keys]
    mirror = work / "bronze-mirror"
    paths = []
    for key in keys:
        path = mirror / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.get(key))
        paths.append(str(path))
    return paths


def spark_gold(spark: Any, config: Config) -> list[dict[str, Any]]:
    return [
        r.asDict()
        for r in spark.read.format("delta").load(config.lake_path("gold", "daily")).collect()
    ]


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    from bench.daily import run_daily
    from bench.duckdb_baseline import cross_check, run_duckdb
    from bench.history import run_history_loads
    from bench.naive_rebuild import run_naive_rebuild
    from bench.repeats import run_repeats
    from medallion.common.spark import build_spark_session
    from medallion.ingestor.job import run_ingest

    scale: Scale = SCALES[args.scale]
    tl = timeline(scale)
    watchlist = symbols(scale.symbols)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="medallion-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root: it must reach its dir
    started_at = datetime.now(UTC)
    wall = time.perf_counter()
    env_base = {k: v for k, v in os.environ.items() if k in ("MEDALLION_JARS_DIR", "SPARK_MASTER")}
    if args.archive:
        env_base["SPARK_CDS_ARCHIVE"] = str(Path(args.archive).absolute())
    print(
        f"bench: scale {scale.name} ({scale.symbols} symbols x {scale.days} days x "
        f"{scale.bars_per_day} bars = {scale.bars:,} bars), work dir {work}",
        flush=True,
    )

    servers = Servers(work, args.dsn, args.lake)
    api = LatencyServer(args.latency_ms, scale.bars_per_day)
    spark = None
    try:
        dsn = servers.database()
        if servers.minio is not None:
            from bench.scaleout import s3_client

            client = s3_client(servers.minio)
            client.create_bucket(Bucket="bench")
            env_base.update(
                {
                    "S3_ENDPOINT_URL": servers.minio.endpoint,
                    "AWS_ACCESS_KEY_ID": servers.minio.access_key,
                    "AWS_SECRET_ACCESS_KEY": servers.minio.secret_key,
                }
            )
            lake_root = "s3://bench/lake"
        else:
            lake_root = str(work / "lake")
        config = bench_config(env_base, lake_root, api.base_url, watchlist, args.concurrency, dsn)
        watch = Stopwatch(Path(args.profile) if args.profile else None)
        load_at_start = load_average()

        # ---------------------------------------------------------------- backfill
        spark = watch.run(
            "spark_start", lambda: build_spark_session(config, "medallion-bench", tl.backfill)
        )
        memory = JvmMemory(spark)
        memory.reset()
        print(f"bench: backfill {tl.backfill} ...", flush=True)
        backfill_counts = run_stages(config, tl.backfill, spark, watch, "backfill.")
        backfill_memory = memory.peak()
        secs = stage_seconds(watch, "backfill.")
        e2e = round(watch.laps["spark_start"] + sum(secs.values()), 3)
        silver_gold = round(secs["transform"] + secs["aggregate"], 3)
        bars_in = backfill_counts["transform"]["rows_in"] or 0
        backfill = {
            "name": "backfill",
            "interval": str(tl.backfill),
            "bars": bars_in,
            "payloads": backfill_counts["ingest"]["requests"],
            "seconds": {
                "spark_start": watch.laps["spark_start"],
                **secs,
                "silver_gold": silver_gold,
                "silver_gold_with_spark_start": round(silver_gold + watch.laps["spark_start"], 3),
                "end_to_end": e2e,
            },
            "rows_per_second": {
                "end_to_end": round(bars_in / e2e) if e2e else None,
                **{s: round(bars_in / secs[s]) if secs[s] else None for s in STAGES},
            },
            "counts": backfill_counts,
            "driver_memory": backfill_memory,
        }
        print(f"bench: backfill done in {e2e:.1f} s", flush=True)

        # ---------------------------------------------------------------- DuckDB floor
        paths = bronze_paths(config, work)
        duck, con = run_duckdb(paths, watchlist, str(work / "floor.duckdb"), args.duckdb_threads)
        check = cross_check(spark_gold(spark, config), con)
        con.close()
        floor = {
            "name": "duckdb_floor",
            "bronze_files": len(paths),
            "seconds": {**duck.seconds, "silver_gold": duck.silver_gold_seconds},
            "counts": {
                "rows_in": duck.rows_in,
                "accepted": duck.rows_out,
                "quarantined": duck.quarantined,
                "silver_rows": duck.silver_rows,
                "gold_rows": duck.gold_rows,
            },
            "cross_check": check,
            "ratios": {
                "ours_silver_gold_vs_duckdb": ratio(silver_gold, duck.silver_gold_seconds),
                "ours_silver_gold_with_spark_start_vs_duckdb": ratio(
                    backfill["seconds"]["silver_gold_with_spark_start"], duck.silver_gold_seconds
                ),
            },
        }
        backfill["ratios"] = dict(floor["ratios"])
        print(
            f"bench: DuckDB floor {duck.silver_gold_seconds:.2f} s, gold equal: {check['equal']}",
            flush=True,
        )

        # ---------------------------------------------------------------- repeats
        repeats = None
        if not config.is_s3 and (args.repeats or scale.repeats) > 0:
            print("bench: silver + gold again in fresh processes, DuckDB between ...", flush=True)

            def env_for(lake_root: str, db: str) -> dict[str, str]:
                base = bench_env(
                    env_base, lake_root, api.base_url, watchlist, args.concurrency, db
                )
                return {**outer_env(), **base}

            def duckdb_run(files: list[str], database: str) -> float:
                result, connection = run_duckdb(files, watchlist, database, args.duckdb_threads)
                connection.close()
                return result.silver_gold_seconds

            repeats = run_repeats(
                Path(lake_root),
                paths,
                work,
                tl.backfill,
                env_for,
                servers.database,
                duckdb_run,
                args.repeats or scale.repeats,
            )

        # ---------------------------------------------------------------- scale-out
        scaleout = None
        if args.scaleout:
            from bench.scaleout import run_scaleout

            print("bench: scale-out, silver + gold in local and cluster modes ...", flush=True)
            stage_env = bench_env(env_base, lake_root, api.base_url, watchlist, 8, dsn)
            scaleout = run_scaleout(
                spark,
                servers.object_store(),
                work / "bronze-mirror" if config.is_s3 else Path(lake_root),
                work,
                tl.backfill,
                {**outer_env(), **stage_env},
                bars_in,
                args.repeats or scale.repeats,
            )

        # ---------------------------------------------------------------- incremental
        def incremental(label: str, interval: Interval, history: int) -> dict[str, Any]:
            memory.reset()
            prefix = f"{label}."
            counts = run_stages(config, interval, spark, watch, prefix)
            ours = stage_seconds(watch, prefix)
            naive = run_naive_rebuild(spark, config)
            peak = memory.peak()
            ours_sg = round(ours["transform"] + ours["aggregate"], 3)
            return {
                "history_days": history,
                "interval": str(interval),
                "seconds": {**ours, "silver_gold": ours_sg, "run": round(sum(ours.values()), 3)},
                "naive_rebuild": {
                    "seconds": {**naive.seconds, "silver_gold": naive.silver_gold_seconds},
                    "bronze_objects": naive.objects,
                    "silver_rows": naive.silver_rows,
                    "gold_rows": naive.gold_rows,
                },
                "counts": counts,
                "driver_memory": peak,
                "ratios": {"naive_vs_ours_silver_gold": ratio(naive.silver_gold_seconds, ours_sg)},
            }

        print(f"bench: incremental on {scale.days} days ...", flush=True)
        short = incremental("incremental_short", tl.incremental_short, scale.days)
        extension = []
        for chunk in tl.extension:
            print(f"bench: history {chunk} (not timed) ...", flush=True)
            ext_watch = Stopwatch()
            run_stages(config, chunk, spark, ext_watch)
            extension.append({"interval": str(chunk), "seconds": dict(ext_watch.laps)})
        print(f"bench: incremental on {scale.history_long} days ...", flush=True)
        long = incremental("incremental_long", tl.incremental_long, scale.history_long)
        incremental_scenario = {
            "name": "incremental",
            "short": short,
            "long": long,
            "history_loads": extension,
            "ratios": {
                "long_vs_short_run": ratio(long["seconds"]["run"], short["seconds"]["run"]),
                "long_vs_short_silver_gold": ratio(
                    long["seconds"]["silver_gold"], short["seconds"]["silver_gold"]
                ),
                "naive_vs_ours_short": short["ratios"]["naive_vs_ours_silver_gold"],
                "naive_vs_ours_long": long["ratios"]["naive_vs_ours_silver_gold"],
            },
        }
        overall_memory = memory.peak()

        # ---------------------------------------------------------------- history loads
        history = None
        if args.history:
            memory.reset()

            def history_config(name: str) -> Config:
                lake = f"s3://bench/{name}" if config.is_s3 else str(work / name)
                watchlist = symbols(scale.history_symbols, prefix="H")
                return bench_config(
                    env_base, lake, api.base_url, watchlist, args.concurrency, dsn
                )

            history = run_history_loads(
                scale, spark, history_config, args.repeats or scale.repeats
            )
            history["driver_memory"] = memory.peak()

        # ---------------------------------------------------------------- ingest
        print("bench: ingest throughput ...", flush=True)
        ingest_symbols = symbols(scale.ingest_symbols, prefix="I")
        ingest_runs = {}
        for label in ("cold", "warm"):
            lake = work / f"ingest-{label}"
            cfg = bench_config(
                env_base, str(lake), api.base_url, ingest_symbols, args.concurrency, dsn
            )
            if config.is_s3:
                cfg = bench_config(
                    env_base,
                    f"s3://bench/ingest-{label}",
                    api.base_url,
                    ingest_symbols,
                    args.concurrency,
                    dsn,
                )
            started = time.perf_counter()
            result = run_ingest(cfg, tl.backfill, now=tl.backfill.end_utc)
            seconds = time.perf_counter() - started
            ingest_runs[label] = {
                "payloads": result.requests,
                "http_attempts": result.http_attempts,
                "bars": result.bars_fetched,
                "bytes": _bronze_bytes(lake) if not config.is_s3 else None,
                "seconds": round(seconds, 3),
                "payloads_per_second": round(result.requests / seconds, 1) if seconds else None,
            }
        ingest = {
            "name": "ingest",
            "latency_ms": args.latency_ms,
            "concurrency": args.concurrency,
            "symbols": scale.ingest_symbols,
            "interval": str(tl.backfill),
            **ingest_runs,
            "ratios": {
                "warm_vs_cold": ratio(
                    ingest_runs["warm"]["payloads_per_second"],
                    ingest_runs["cold"]["payloads_per_second"],
                )
            },
        }

        # ---------------------------------------------------------------- daily
        print("bench: make run and the daily run, as separate processes and in one ...", flush=True)
        make_run, daily = run_daily(
            work,
            {k: v for k, v in env_base.items() if k in ("MEDALLION_JARS_DIR", "SPARK_CDS_ARCHIVE")},
            servers.database(),
            scale.daily_history_days,
            args.repeats or scale.repeats,
            args.cds,
            # `make run` starts from the clone's archive when `make cds` built one
            cds_current(REPO_ROOT / ".cache" / "cds") if args.cds else None,
            servers.database,
        )

        # ---------------------------------------------------------------- summary
        max_rss = max(
            (m.get("rss_peak_bytes") or 0)
            for m in (
                backfill_memory,
                short["driver_memory"],
                long["driver_memory"],
                overall_memory,
                (history or {}).get("driver_memory", {}),
            )
        )
        targets = [
            target(
                "silver+gold (Spark start included) within 8x of DuckDB",
                floor["ratios"]["ours_silver_gold_with_spark_start_vs_duckdb"],
                "<=",
                8,
                "x",
            ),
            target(
                "silver+gold in a fresh process (Spark start included) / DuckDB, medians",
                (repeats or {}).get("ratios", {}).get(
                    "ours_silver_gold_with_spark_start_vs_duckdb_median"
                ),
                "<=",
                6,
                "x",
            ),
            target(
                "backfill end to end (ingest through PostgreSQL, Spark start included)",
                backfill["seconds"]["end_to_end"],
                "<=",
                90,
                " s",
            ),
            target(
                "incremental at long history / at short history",
                incremental_scenario["ratios"]["long_vs_short_run"],
                "<=",
                1.2,
                "x",
            ),
            target(
                f"{scale.history_load_days}-day load of {scale.history_symbols} symbols' 1m bars, "
                f"{scale.history_long_loads} / {scale.history_short} days of history (medians)",
                (history or {}).get("ratios", {}).get("long_vs_short_silver_gold_median")
                if scale.history_long_loads == 250 and scale.history_short == 20
                else None,
                "<=",
                1.3,
                "x",
            ),
            target(
                "naive rebuild / ours, silver+gold, at long history",
                incremental_scenario["ratios"]["naive_vs_ours_long"],
                ">=",
                3,
                "x",
            ),
            target(
                "ingest payloads/s at 50 ms latency (warm server)",
                ingest_runs["warm"]["payloads_per_second"],
                ">=",
                100,
                "/s",
            ),
            target(
                "daily run, stages as separate processes / in one process (median)",
                daily["ratios"]["separate_vs_one_process"],
                "<=",
                2,
                "x",
            ),
            target(
                "make run SOURCE=synthetic, pipeline time (median)",
                make_run["seconds"]["pipeline"]["median"]
                if scale.daily_history_days == 400
                else None,
                "<=",
                15,
                " s",
            ),
            {
                "target": "a standalone cluster gives the same silver and gold as local mode",
                "value": None if scaleout is None else scaleout["same_tables"],
                "limit": "equal",
                "met": None if scaleout is None else scaleout["same_tables"],
            },
            target(
                "Spark driver peak RSS",
                round(max_rss / GIB, 3) if max_rss else None,
                "<=",
                3,
                " GiB",
            ),
        ]
        machine = machine_facts()
        machine["load_average_1_5_15"] = {"start": load_at_start, "end": load_average()}
        machine["versions"]["java"] = str(spark._jvm.java.lang.System.getProperty("java.version"))
        machine["versions"]["postgresql"] = postgres_version(dsn)
        return {
            "schema_version": 1,
            "scale": scale.describe(),
            "started_at": started_at.isoformat(timespec="seconds"),
            "wall_seconds": round(time.perf_counter() - wall, 1),
            "settings": {
                "lake": "minio" if config.is_s3 else "local disk",
                "latency_ms": args.latency_ms,
                "http_concurrency": args.concurrency,
                "spark_master": config.spark_master,
                "duckdb_threads": args.duckdb_threads or "default (cores)",
                "every_driver_from_archive": env_base.get("SPARK_CDS_ARCHIVE"),
                "memory_method": "VmHWM of the driver JVM (/proc/<pid>/status, peak reset per "
                "scenario via clear_refs) + JVM heap pools' peak usage "
                "(MemoryPoolMXBean over py4j)",
            },
            "machine": machine,
            "scenarios": [
                s
                for s in (
                    *(backfill, floor, repeats, scaleout),
                    *(incremental_scenario, history, ingest, make_run, daily),
                )
                if s is not None
            ],
            "driver_memory_peak": overall_memory,
            "targets": targets,
        }
    finally:
        if spark is not None:
            spark.stop()
        api.stop()
        servers.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _bronze_bytes(lake: Path) -> int:
    return sum(
        p.stat().st_size
        for p in (lake / "bronze").rglob("*.json")
        if not p.name.endswith(".meta.json")
    )


# --------------------------------------------------------------------------- table
def format_table(results: dict[str, Any]) -> str:
    by_name = {s["name"]: s for s in results["scenarios"]}
    b, f, i, g = (by_name[n] for n in ("backfill", "duckdb_floor", "incremental", "ingest"))
    sc = results["scale"]
    m = results["machine"]

    def gib(n: float | None) -> str:
        return f"{n / GIB:.2f} GiB" if n else "-"

    lines = [
        f"medallion bench — scale {sc['name']}: {sc['symbols']} symbols x {sc['days']} days x "
        f"{sc['bars_per_day']} bars = {sc['backfill_bars']:,} bars; {m['cores']} cores, "
        f"{gib(m['memory_bytes'])}; lake on {results['settings']['lake']}",
        "",
        f"{'scenario / step':<44}{'seconds':>10}{'rows/s':>12}",
    ]
    bs = b["seconds"]
    for key in ("spark_start", "ingest", "transform", "aggregate", "publish"):
        rps = b["rows_per_second"].get(key)
        lines.append(f"  backfill {key:<35}{bs[key]:>10.2f}{(rps or 0):>12,}")
    lines.append(
        f"  backfill end to end{'':<24}{bs['end_to_end']:>10.2f}"
        f"{b['rows_per_second']['end_to_end'] or 0:>12,}"
    )
    lines.append(
        f"  backfill silver+gold (+ Spark start){'':<7}{bs['silver_gold']:>10.2f}"
        f"  ({bs['silver_gold_with_spark_start']:.2f})"
    )
    lines.append(
        f"  DuckDB floor silver+gold{'':<19}{f['seconds']['silver_gold']:>10.2f}"
        f"  gold equal: {f['cross_check']['equal']} "
        f"(max rel diff {f['cross_check']['max_relative_difference']:.1e})"
    )
    for key in ("short", "long"):
        s = i[key]
        lines.append(
            f"  incremental, {s['history_days']:>3} days history: run{'':<11}"
            f"{s['seconds']['run']:>10.2f}   silver+gold {s['seconds']['silver_gold']:.2f}"
            f", naive {s['naive_rebuild']['seconds']['silver_gold']:.2f}"
        )
    lines.append(
        f"  ingest, {g['symbols']} symbols, c={g['concurrency']}, "
        f"{g['latency_ms']:g} ms: cold{'':<5}{g['cold']['seconds']:>10.2f}"
        f"  {g['cold']['payloads_per_second']} payloads/s"
    )
    lines.append(
        f"  {'':<31}warm{'':<5}{g['warm']['seconds']:>10.2f}"
        f"  {g['warm']['payloads_per_second']} payloads/s"
    )
    if "backfill_repeats" in by_name:
        r = by_name["backfill_repeats"]
        sp, dk = r["spark_fresh_process"]["silver_gold_with_spark_start"], r["duckdb_silver_gold"]
        lines.append(
            f"  silver+gold, fresh process (+ Spark start){'':<1}{sp['median']:>10.2f}"
            f"  (min {sp['min']:.2f}, max {sp['max']:.2f}, n={sp['n']}); DuckDB "
            f"{dk['median']:.2f} (min {dk['min']:.2f}, max {dk['max']:.2f})"
        )
    if "make_run" in by_name:
        mr, d = by_name["make_run"], by_name["daily"]
        pipe, wall = mr["seconds"]["pipeline"], mr["seconds"]["process_wall"]
        lines.append(
            f"  make run SOURCE=synthetic ({mr['symbols']} symbols, {mr['interval']}): "
            f"pipeline {pipe['median']:.2f} s (min {pipe['min']:.2f}, max {pipe['max']:.2f}, "
            f"n={pipe['n']}), process {wall['median']:.2f} s"
        )
        for shape, figures in d["seconds"].items():
            total = figures["total"]
            per_stage = ", ".join(
                f"{k} {v['median']:.1f}" for k, v in figures.items() if k != "total"
            )
            lines.append(
                f"  daily run, {shape:<27}{total['median']:>10.2f}  "
                f"(min {total['min']:.2f}, max {total['max']:.2f}, n={total['n']}; {per_stage})"
            )
        if d.get("cds_archive_bytes"):
            lines.append(f"  class-data-sharing archive: {d['cds_archive_bytes'] / 2**20:.0f} MiB")
    if "scaleout" in by_name:
        from bench.scaleout import format_scaleout

        lines += format_scaleout(by_name["scaleout"])
    mem = results["driver_memory_peak"]
    lines.append(
        f"  driver memory: backfill peak RSS {gib(b['driver_memory']['rss_peak_bytes'])}"
        f", heap peak {gib(b['driver_memory']['heap_peak_bytes'])} of "
        f"{gib(mem['heap_max_bytes'])}"
    )
    lines += ["", "ratios:"]
    for s in results["scenarios"]:
        for k, v in s.get("ratios", {}).items():
            lines.append(f"  {s['name']}.{k:<48}{v if v is not None else '-':>8}")
    lines += ["", "targets:"]
    for t in results["targets"]:
        verdict = {True: "met", False: "NOT MET", None: "n/a"}[t["met"]]
        lines.append(f"  {verdict:<8}{t['target']:<72} {t['value']} ({t['limit']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--output",
        default=str(REPO_ROOT / "bench" / "results.json"),
        help="results file (default bench/results.json)",
    )
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--concurrency", type=int, default=8, help="HTTP_CONCURRENCY of the ingestor (default 8)"
    )
    parser.add_argument(
        "--lake",
        choices=("local", "minio"),
        default="local",
        help="lake on local disk (default) or a local MinIO server",
    )
    parser.add_argument("--dsn", help="admin DSN of a running PostgreSQL (default: start one)")
    parser.add_argument("--duckdb-threads", type=int, default=None)
    parser.add_argument("--work-dir", help="scratch directory (default: a temp dir)")
    parser.add_argument(
        "--profile", metavar="DIR", help="cProfile every timed stage into DIR/<stage>.txt"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs of each shape of the daily scenario (default: the scale's, 3; tiny 1)",
    )
    parser.add_argument(
        "--cds",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the daily scenario with a class-data-sharing archive (default on)",
    )
    parser.add_argument(
        "--archive",
        metavar="PATH",
        help="start every driver JVM of the run from this existing class-data-sharing "
        "archive (the harness test passes the clone's, to run faster); figures are then not "
        "comparable with a run without it",
    )
    parser.add_argument(
        "--scaleout",
        action=argparse.BooleanOptionalAction,
        default=False,
        # at full scale its 3 rounds of four modes took 21 min: with it, the whole run would
        # take about 52 (bench/README.md), past the 45 `make bench SCALE=full` must stay under
        help="also run the scale-out scenario, local vs standalone-cluster modes (default "
        "off: ~21 min at full scale; or run it alone: python -m bench.scaleout)",
    )
    parser.add_argument(
        "--history",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the history_loads scenario (default on; ~12 min at full scale)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING"), stream=sys.stderr, format="%(message)s"
    )
    results = run_bench(args)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file():  # scenarios run on their own (bench.history, .scaleout, .large) stay
        earlier = json.loads(out.read_text()).get("separate_runs")
        if earlier:
            results["separate_runs"] = earlier
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(format_table(results))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
