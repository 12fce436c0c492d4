"""SIGKILL at every named point of every stage, then rerun: equal to a run never interrupted.

Each stage runs as its own process on the suite's real MinIO and PostgreSQL and is
killed (whole process group: driver, JVM, Python workers) at a named point reached
deterministically through MEDALLION_FAULT. The next run of the same stage is the
rerun after the kill: it is itself killed at the stage's next point, until a last run
completes (in the test's own Spark, to save a JVM start). Then every layer is compared, in the one canonical form of
tests/canonical.py, with an uninterrupted run of the same input, and the bookkeeping
(watermarks, processed-objects manifest, gold state, publish state, leases) is checked
to be consistent.
"""

from __future__ import annotations

import json
import signal
from datetime import date

import psycopg

from medallion.common.delta import latest_version
from medallion.common.lease import lease_key
from medallion.common.storage import store_from_config
from tests.canonical import canonical
from tests.integration.faults.conftest import WEEK, bind_bucket, run_in_process
from tests.integration.faults.report import record_outcome

KILLS = {
    "ingest": ["ingest.after_meta", "ingest.after_body"],
    # transform.after_prices is exercised by test_one_writer (a writer stopped there)
    "transform": ["delta.write:silver/prices", "transform.before_manifest"],
    "aggregate": ["delta.write:gold/daily", "aggregate.before_state"],
    "publish": ["publish.copy#3", "publish.before_commit"],
}
LAYERS_OF = {
    "ingest": ("bronze",),
    "transform": ("silver", "quarantine"),
    "aggregate": ("gold",),
    "publish": ("postgres",),
}


def gold_daily_rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass('public.gold_daily')").fetchone()[0] is None:
            return []
        return conn.execute(
            "SELECT symbol, trade_date, close_adj, sma_20 FROM public.gold_daily ORDER BY 1, 2"
        ).fetchall()


def test_sigkill_at_each_point_then_rerun_equals_an_uninterrupted_run(
    new_lake, lake_spark, baseline
):
    lake = new_lake()
    bind_bucket(lake_spark, lake)
    config = lake.config
    store = store_from_config(config)
    tried = []
    for stage, points in KILLS.items():
        runs = 0
        for name in points:
            published_before = gold_daily_rows(lake.dsn) if stage == "publish" else None
            proc = lake.run(stage, f"{name}:kill")
            runs += 1
            assert proc.returncode == -signal.SIGKILL, (
                f"{stage} should have been SIGKILLed at {name}:\n{proc.output[-3000:]}"
            )
            assert f"fault point {name.split('#')[0]}: kill" in proc.output
            tried.append(name)
            if published_before is not None:
                # killed inside the publish transaction: readers see the table as before
                assert gold_daily_rows(lake.dsn) == published_before
        # the last rerun completes; it runs in the test's warm JVM to keep the suite lean
        run_in_process(lake_spark, lake, stage)
        runs += 1
        got = canonical(lake_spark, config, lake.dsn, store, LAYERS_OF[stage])
        assert got.diff(baseline) == {}, f"{stage} after kills at {points} differs"
        if stage in ("transform", "aggregate"):
            # every rerun took the killed writer's lease over: one token per run
            table = "silver/prices" if stage == "transform" else "gold/daily"
            held = json.loads(store.get(lease_key(table)))
            assert (held["token"], held["owner"]) == (runs, None)

    final = canonical(lake_spark, config, lake.dsn, store)
    diff = final.diff(baseline)
    record_outcome(
        "kill_points",
        diff,
        points=tried,
        rows_compared={k: sum(v.values()) for k, v in baseline.layers().items()},
    )
    assert diff == {}
    assert_bookkeeping_consistent(lake_spark, config, store, lake.dsn)


def assert_bookkeeping_consistent(spark, config, store, dsn: str) -> None:
    keys = store.list("bronze/")
    bodies = {k for k in keys if k.endswith(".json") and not k.endswith(".meta.json")}
    bodies -= {k for k in bodies if k.startswith("bronze/_state/")}
    sidecars = {k[: -len(".meta.json")] + ".json" for k in keys if k.endswith(".meta.json")}
    assert bodies == sidecars, "no orphan sidecar and no body without its sidecar"
    processed = {
        r["object_key"]
        for r in spark.read.format("delta").load(config.lake_path("silver", "_processed")).collect()
    }
    assert processed == bodies, "the manifest lists exactly the bronze objects, once"
    for symbol in ("AAPL", "MSFT"):
        state = json.loads(
            store.get(f"bronze/_state/source=yahoo/symbol={symbol}/interval=1d.json")
        )
        start, end = state["covered"][0]["start"], state["covered"][0]["end"]
        assert (
            date.fromisoformat(start[:10]) <= WEEK.start
            and date.fromisoformat(end[:10]) >= WEEK.end
        )
    # gold/_state holds one row per source gold follows (silver/prices, silver/corporate_actions)
    gold_state = spark.read.format("delta").load(config.lake_path("gold", "_state")).collect()
    versions = {r["source_table"]: r["source_version"] for r in gold_state}
    assert len(versions) == len(gold_state), "one state row per source"
    for source in versions:
        assert versions[source] == latest_version(spark, config.lake_path(*source.split("/"))), source
    with psycopg.connect(dsn) as conn:
        published = conn.execute(
            "SELECT delta_version FROM public.medallion_publish_state"
        ).fetchall()
    assert published == [(latest_version(spark, config.lake_path("gold", "daily")),)]
