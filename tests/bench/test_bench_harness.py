"""`make bench` at its smallest scale: the harness runs every scenario against real
servers and writes a well-formed results file. No time is asserted, ever."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = os.environ.get("SPARK_CDS_ARCHIVE")  # tools/run-tests.sh: this clone's, when built

SCENARIOS = {
    "backfill",
    "duckdb_floor",
    "backfill_repeats",
    "incremental",
    "history_loads",
    "ingest",
    "make_run",
    "daily",
}
RATIOS = {
    "backfill": {"ours_silver_gold_vs_duckdb", "ours_silver_gold_with_spark_start_vs_duckdb"},
    "duckdb_floor": {"ours_silver_gold_vs_duckdb", "ours_silver_gold_with_spark_start_vs_duckdb"},
    "incremental": {
        "long_vs_short_run",
        "long_vs_short_silver_gold",
        "naive_vs_ours_short",
        "naive_vs_ours_long",
    },
    "history_loads": {"long_vs_short_silver_gold_median", "long_vs_short_transform_median"},
    "ingest": {"warm_vs_cold"},
    "daily": {"separate_vs_one_process"},
    "backfill_repeats": {"ours_silver_gold_with_spark_start_vs_duckdb_median"},
}


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_tiny_scale_writes_every_scenario_and_ratio(tmp_path: Path, postgres_server) -> None:
    out = tmp_path / "results.json"
    kept = {"large": {"kept": True}}  # a scenario run on its own (python -m bench.large)
    out.write_text(json.dumps({"scenarios": [], "separate_runs": kept}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--scale",
            "tiny",
            "--output",
            str(out),
            "--dsn",
            postgres_server.dsn,
            "--work-dir",
            str(tmp_path / "work"),
            "--no-cds",  # the archive's write and use: tests/integration/jvm
            # four modes of fresh processes on a standalone cluster: too dear for make test
            # (tests/integration/scaleout runs the stages on that cluster)
            "--no-scaleout",
            # every driver from the clone's archive when tools/run-tests.sh found one (about
            # 35% less time per fresh driver JVM): this run's figures are not compared
            *(["--archive", ARCHIVE] if ARCHIVE else []),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    results = json.loads(out.read_text())

    assert results["separate_runs"] == kept, "a whole run dropped the runs made on their own"
    scenarios = {s["name"]: s for s in results["scenarios"]}
    assert set(scenarios) == SCENARIOS
    for name, keys in RATIOS.items():
        ratios = scenarios[name]["ratios"]
        assert set(ratios) == keys, name
        assert all(_positive(v) for v in ratios.values()), (name, ratios)

    scale = results["scale"]
    backfill = scenarios["backfill"]
    # every generated bar went through silver (conservation) and reached gold/PostgreSQL
    assert backfill["bars"] == scale["backfill_bars"]
    assert backfill["counts"]["transform"]["quarantined"] == 0
    days = scale["symbols"] * scale["days"]
    assert backfill["counts"]["publish"]["rows_out"] == days
    for key in ("spark_start", "ingest", "transform", "aggregate", "publish", "end_to_end"):
        assert _positive(backfill["seconds"][key]), key
    assert _positive(backfill["driver_memory"]["rss_peak_bytes"])
    assert _positive(backfill["driver_memory"]["heap_peak_bytes"])

    # the floor is honest: DuckDB's gold equals Spark's, value by value
    floor = scenarios["duckdb_floor"]
    assert floor["cross_check"]["equal"], floor["cross_check"]["mismatches"]
    assert floor["cross_check"]["rows_spark"] == days
    assert floor["counts"]["silver_rows"] == scale["backfill_bars"]

    incremental = scenarios["incremental"]
    for key, history in (("short", scale["days"]), ("long", scale["history_long"])):
        run = incremental[key]
        assert run["history_days"] == history
        # one new day per symbol, plus the ingestor's overlap (it re-asks from the last bar)
        day_bars = scale["symbols"] * scale["bars_per_day"]
        assert day_bars <= run["counts"]["transform"]["rows_in"] <= 2 * day_bars
        assert run["naive_rebuild"]["silver_rows"] == (
            scale["symbols"] * (history + 1) * scale["bars_per_day"]
        )

    ingest = scenarios["ingest"]
    for label in ("cold", "warm"):
        assert ingest[label]["payloads"] >= scale["ingest_symbols"]
        assert _positive(ingest[label]["payloads_per_second"])

    # silver + gold again in a fresh process on a copy of the same bronze: the same rows
    # as the backfill wrote
    repeated = scenarios["backfill_repeats"]
    assert repeated["repeats"] == len(repeated["runs"]["spark"]) == len(repeated["runs"]["duckdb"])
    fresh = repeated["spark_fresh_process"]
    assert "ingest" not in fresh and _positive(fresh["spark_start"]["median"])
    assert fresh["silver_gold"]["median"] < fresh["process_wall"]["median"]
    for rows in repeated["runs"]["spark_rows_out"]:
        assert rows == {
            stage: backfill["counts"][stage]["rows_out"]
            for stage in ("transform", "aggregate", "publish")
        }

    # `make run`'s shape over the synthetic source, then the daily run in both shapes
    make_run = scenarios["make_run"]
    assert make_run["symbols"] == 5 and make_run["layers"]["gold daily"] > 0
    assert _positive(make_run["seconds"]["pipeline"]["median"])
    assert len(make_run["runs"]) == make_run["repeats"] == make_run["seconds"]["pipeline"]["n"]
    # --no-cds: the clone's archive only if given with --archive, and then everywhere
    assert make_run["cds_archive"] == results["settings"]["every_driver_from_archive"]
    assert results["settings"]["every_driver_from_archive"] == (
        str(Path(ARCHIVE).absolute()) if ARCHIVE else None
    )
    daily = scenarios["daily"]
    assert set(daily["seconds"]) == {"separate_processes", "one_process"}
    for shape, figures in daily["seconds"].items():
        assert set(figures) >= {"ingest", "transform", "aggregate", "publish", "total"}, shape
        total = figures["total"]
        assert total["n"] == daily["repeats"] == 1, shape
        assert _positive(total["median"]) and total["min"] <= total["median"] <= total["max"]
        assert figures["transform"]["median"] < total["median"], shape

    # the same load of new days on a short and a long history: every load inserts all of
    # its bars (tiny: 2 symbols x 2 days x 390 one-minute bars) on both lakes
    history = scenarios["history_loads"]
    assert history["repeats"] == 1
    for lake in ("short", "long"):
        assert history[lake]["bars_inserted_per_load"] == [2 * 2 * 390], lake
        assert history[lake]["silver_files_before_loads"] > 0, lake
        assert _positive(history[lake]["seconds"]["silver_gold"]["median"]), lake
    assert history["long"]["history_days"] > history["short"]["history_days"]


    # targets are reported, not asserted: each has a verdict (n/a where the scale does not
    # measure it: `make run`'s 400 days)
    assert len(results["targets"]) == 11
    assert all(t["met"] in (True, False) for t in results["targets"] if t["value"] is not None)
    assert results["machine"]["cores"] and results["machine"]["versions"]["duckdb"]
    assert "targets:" in proc.stdout
