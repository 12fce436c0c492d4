"""Ten times the data: where one machine ends.

``python -m bench.large`` ingests two backfills of one-minute bars of the same 128 symbols
over real HTTP (the latency server): the full scale's 20 trading days (998,400 bars) and
200 trading days (9,984,000 bars), in runs of at most 20 trading days (one-minute bars
reach back 30 calendar days from a run's end; not timed). Then silver + gold + publish
of each runs in a fresh process (``bench.one_process --skip-ingest``: JVM and Spark start
included, as a pod pays them), the small one first, so both meet the same machine.

Both runs give the driver a 3 GiB heap (``SPARK_DRIVER_MEMORY=3g``, which spark-submit
reads): with Spark's default of 1 GiB the 10M-bar transform dies of "Java heap space"
while caching the parsed payloads (measured). Reported per size: seconds per stage, bars
per second of silver + gold, and the driver JVM's peak resident memory (VmHWM). Targets:
the 10M run completes, its driver peak is under 4 GiB, and its throughput is at least 80%
of the 1M run's. The result goes under ``separate_runs.large`` of bench/results.json
(about 8 minutes on 2 cores, half of it the server generating 5,120 payloads).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import load_average, ratio, save_separate_run
from bench.one_process import run_fresh
from bench.workload import REPO_ROOT, LatencyServer, span, symbols, trading_days

GIB = 1024**3
SYMBOLS = 128
SIZES = {"1m_bars_1M": 20, "1m_bars_10M": 200}  # trading days of the backfill
CHUNK_DAYS = 20
DRIVER_MEMORY = "3g"  # the default 1g is not enough for 10M bars in one run


def _ingest(env: dict[str, str], days: list) -> int:
    """The backfill's bronze, in runs of CHUNK_DAYS trading days; returns the bars."""
    from medallion.common.config import load_config
    from medallion.ingestor.job import run_ingest

    config = load_config(env)
    bars = 0
    for i in range(0, len(days), CHUNK_DAYS):
        chunk = span(days[i : i + CHUNK_DAYS])
        bars += run_ingest(config, chunk, now=chunk.end_utc).bars_fetched
    return bars


def run_large(
    work: Path, env_for: Any, new_database: Any, n_symbols: int = SYMBOLS, days: tuple = ()
) -> dict[str, Any]:
    """``env_for(lake_root, dsn, watchlist)``: the stage environment; ``new_database()``: a
    DSN; ``days``: the two backfills' trading days (default 20 and 200)."""
    watchlist = symbols(n_symbols)
    sizes: dict[str, Any] = {}
    for name, n_days in zip(SIZES, days or SIZES.values(), strict=True):
        days = trading_days(n_days)
        lake = work / name
        env = env_for(str(lake), new_database(), watchlist)
        print(f"bench: {name}: ingest of {n_days} days (not timed) ...", flush=True)
        bars = _ingest(env, days)
        print(f"bench: {name}: silver + gold + publish in a fresh process ...", flush=True)
        interval = span(days)
        wall, printed = run_fresh(env, str(interval.start), str(interval.end), skip_ingest=True)
        seconds = printed["seconds"]
        silver_gold = round(seconds["transform"] + seconds["aggregate"], 3)
        rss = (printed.get("driver_memory") or {}).get("rss_peak_bytes")
        sizes[name] = {
            "interval": str(interval),
            "bars": bars,
            "seconds": {**seconds, "silver_gold": silver_gold, "process_wall": wall},
            "rows_out": printed["rows_out"],
            "silver_gold_bars_per_second": round(bars / silver_gold) if silver_gold else None,
            "driver_memory": printed.get("driver_memory"),
            "driver_rss_peak_gib": round(rss / GIB, 3) if rss else None,
        }
        shutil.rmtree(lake, ignore_errors=True)
    small, large = sizes["1m_bars_1M"], sizes["1m_bars_10M"]
    throughput = ratio(large["silver_gold_bars_per_second"], small["silver_gold_bars_per_second"])
    return {
        "name": "large",
        "symbols": n_symbols,
        "driver_memory_setting": DRIVER_MEMORY,
        "sizes": sizes,
        "ratios": {"throughput_10M_vs_1M": throughput},
        "targets": {
            "completes": large["rows_out"].get("transform") == large["bars"],
            "driver_peak_under_4_gib": (large["driver_rss_peak_gib"] or 99) < 4,
            "throughput_at_least_80_percent": throughput is not None and throughput >= 0.8,
        },
    }


def main(argv: list[str] | None = None) -> int:
    import sys

    from bench.run import bench_env

    parser = argparse.ArgumentParser(prog="python -m bench.large", description=__doc__)
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results.json"))
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--work-dir", help="scratch directory (default: a temp dir)")
    parser.add_argument("--symbols", type=int, default=SYMBOLS, help="a smoke run: fewer")
    parser.add_argument(
        "--days", type=int, nargs=2, default=tuple(SIZES.values()), help="a smoke run: fewer"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    import servers  # tools/servers.py

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="medallion-large-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root
    started_at, wall, load_at_start = datetime.now(UTC), time.perf_counter(), load_average()
    jars = {k: v for k, v in os.environ.items() if k == "MEDALLION_JARS_DIR"}
    pg = servers.PostgresServer.start(work / "postgres")
    count = iter(range(100))
    try:
        with LatencyServer(args.latency_ms, 390) as api:

            def env_for(lake_root: str, dsn: str, watchlist: list[str]) -> dict[str, str]:
                base = bench_env(jars, lake_root, api.base_url, watchlist, 8, dsn)
                return {**os.environ, **base, "SPARK_DRIVER_MEMORY": DRIVER_MEMORY}

            def new_database() -> str:
                import psycopg

                name = f"large_{next(count)}_{secrets.token_hex(4)}"
                with psycopg.connect(pg.dsn(), autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                return pg.dsn(name)

            result = run_large(work, env_for, new_database, args.symbols, tuple(args.days))
    finally:
        pg.discard()
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    result["started_at"] = started_at.isoformat(timespec="seconds")
    result["wall_seconds"] = round(time.perf_counter() - wall, 1)
    result["load_average_1_5_15"] = {"start": load_at_start, "end": load_average()}
    save_separate_run(Path(args.output), "large", result)
    for name, size in result["sizes"].items():
        print(
            f"{name}: {size['bars']:,} bars, silver+gold {size['seconds']['silver_gold']} s, "
            f"{size['silver_gold_bars_per_second']} bars/s, driver peak "
            f"{size['driver_rss_peak_gib']} GiB"
        )
    print(f"targets: {result['targets']}\nresults: {args.output} (separate_runs.large)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
