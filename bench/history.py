"""History-independent loads: the same multi-day load on a short and on a long history.

Two lakes of one-minute bars of the same symbols: one with ``history_short`` trading days
of history, one with ``history_long_loads``. Each history is loaded by the real pipeline in runs
of at most ``history_chunk_days`` trading days (one-minute bars reach back 30 calendar
days from a run's end; ingest -> silver -> gold, not timed), then the
weekly maintenance compacts it (OPTIMIZE, as the Sunday DAG does: the layout a load meets
in production). Then ``repeats`` times, alternating which lake goes first, the next
``history_load_days`` trading days are loaded into each lake (ingest, silver, gold timed
apart; the loads are new days, as a daily schedule that fell behind or a catch-up run
brings them). The target is judged on the medians of silver + gold: long / short.

What makes it flat is silver/prices' partitioning by trade month plus the MERGE's pruning
predicates (months, symbols, ts range): a load reads and rewrites only the months it
touches. ``silver_files`` shows how many data files each history holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.measure import Stopwatch, ratio, spread
from bench.workload import Scale, span, trading_days
from medallion.common.config import Config
from medallion.common.intervals import Interval

TIMED = ("ingest", "transform", "aggregate")


def _chunks(days: list, size: int) -> list[Interval]:
    return [span(days[i : i + size]) for i in range(0, len(days), size)]


def _load(config: Config, interval: Interval, spark: Any, watch: Stopwatch, prefix: str) -> int:
    """ingest -> transform -> aggregate of ``interval``; returns the new bars silver got
    (the source also re-sends the bar before the interval: an update, not counted)."""
    from medallion.aggregator.job import run_aggregate
    from medallion.ingestor.job import run_ingest
    from medallion.transformer.job import run_transform

    watch.run(prefix + "ingest", lambda: run_ingest(config, interval, now=interval.end_utc))
    silver = watch.run(prefix + "transform", lambda: run_transform(config, interval, spark=spark))
    watch.run(prefix + "aggregate", lambda: run_aggregate(config, interval, spark=spark))
    return silver.rows_inserted


def _data_files(spark: Any, config: Config) -> int:
    from medallion.common.delta import _fresh_snapshot

    return int(_fresh_snapshot(spark, config.lake_path("silver", "prices")).numOfFiles())


def run_history_loads(
    scale: Scale, spark: Any, config_for: Callable[[str], Config], repeats: int
) -> dict[str, Any]:
    """``config_for(name)``: the bench's configuration with a lake of that name."""
    from medallion.maintenance.tables import run_maintenance

    lakes = {"short": scale.history_short, "long": scale.history_long_loads}
    # every lake needs its history plus `repeats` loads of new days after it
    calendar = trading_days(max(lakes.values()) + repeats * scale.history_load_days)
    configs, next_day, build_seconds, files = {}, {}, {}, {}
    for label, history in lakes.items():
        config = configs[label] = config_for(f"history-{label}")
        watch = Stopwatch()
        print(f"bench: history of {history} days for the {label} lake (not timed) ...", flush=True)
        for chunk in _chunks(calendar[:history], scale.history_chunk_days):
            _load(config, chunk, spark, watch, f"{chunk}.")
        with watch.lap("maintenance"):
            run_maintenance(config, spark=spark, vacuum=False)
        build_seconds[label] = round(sum(watch.laps.values()), 1)
        files[label] = _data_files(spark, config)
        next_day[label] = history

    runs: dict[str, list[dict[str, float]]] = {label: [] for label in lakes}
    bars: dict[str, list[int]] = {label: [] for label in lakes}
    for repeat in range(repeats):
        order = list(lakes) if repeat % 2 == 0 else list(reversed(lakes))
        for label in order:
            start = next_day[label]
            interval = span(calendar[start : start + scale.history_load_days])
            next_day[label] = start + scale.history_load_days
            watch = Stopwatch()
            print(f"bench: {label} lake, load {interval} ...", flush=True)
            bars[label].append(_load(configs[label], interval, spark, watch, ""))
            seconds = {stage: watch.laps[stage] for stage in TIMED}
            seconds["silver_gold"] = round(seconds["transform"] + seconds["aggregate"], 3)
            runs[label].append(seconds)

    def summary(label: str) -> dict[str, Any]:
        return {
            "history_days": lakes[label],
            "history_build_seconds": build_seconds[label],
            "silver_files_before_loads": files[label],
            "bars_inserted_per_load": bars[label],
            "seconds": {
                key: spread([r[key] for r in runs[label]]) for key in (*TIMED, "silver_gold")
            },
        }

    short, long = summary("short"), summary("long")
    return {
        "name": "history_loads",
        "symbols": scale.history_symbols,
        "bar_interval": "1m",
        "load_days": scale.history_load_days,
        "repeats": repeats,
        "short": short,
        "long": long,
        "ratios": {
            "long_vs_short_silver_gold_median": ratio(
                long["seconds"]["silver_gold"]["median"], short["seconds"]["silver_gold"]["median"]
            ),
            "long_vs_short_transform_median": ratio(
                long["seconds"]["transform"]["median"], short["seconds"]["transform"]["median"]
            ),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Only this scenario: ``python -m bench.history --scale full`` (no PostgreSQL needed).
    Its result goes into ``separate_runs.history_loads`` of the results file, next to the
    last whole run's scenarios, with the load average it ran under."""
    import argparse
    import json
    import os
    import tempfile
    import time
    from datetime import UTC, datetime
    from pathlib import Path

    from bench.measure import load_average, save_separate_run
    from bench.run import bench_config
    from bench.workload import REPO_ROOT, SCALES, LatencyServer, symbols
    from medallion.common.spark import build_spark_session

    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results.json"))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    env_base = {k: v for k, v in os.environ.items() if k == "MEDALLION_JARS_DIR"}
    started_at, wall, load_at_start = datetime.now(UTC), time.perf_counter(), load_average()
    with (
        tempfile.TemporaryDirectory(prefix="medallion-history-") as work,
        LatencyServer(args.latency_ms, scale.bars_per_day) as api,
    ):

        def config_for(name: str) -> Config:
            watchlist = symbols(scale.history_symbols, prefix="H")
            dsn = "postgresql://unused@127.0.0.1:1/unused"  # nothing is published
            return bench_config(env_base, str(Path(work) / name), api.base_url, watchlist, 8, dsn)

        spark = build_spark_session(config_for("lake"), "medallion-bench-history")
        try:
            result = run_history_loads(scale, spark, config_for, args.repeats or scale.repeats)
        finally:
            spark.stop()
    result["scale"] = scale.name
    result["started_at"] = started_at.isoformat(timespec="seconds")
    result["wall_seconds"] = round(time.perf_counter() - wall, 1)
    result["load_average_1_5_15"] = {"start": load_at_start, "end": load_average()}
    save_separate_run(Path(args.output), "history_loads", result)
    print(json.dumps(result["ratios"]), f"\nresults: {args.output} (separate_runs.history_loads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
