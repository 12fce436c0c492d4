"""Gold job on a real Delta lake: incremental recompute from the silver change feed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from delta.tables import DeltaTable

from medallion.aggregator.job import run_aggregate
from medallion.common.config import load_config
from medallion.common.intervals import Interval
from medallion.common.storage import store_from_config
from medallion.transformer.job import run_transform
from medallion.transformer.testing import content_hash, write_bronze, yahoo_body

D1 = date(2024, 1, 2)
BASE = 1704205800  # 2024-01-02 14:30 UTC
CLOSES = [10.0, 11.0, 12.1, 11.0]


def seed(store):
    stamps = [BASE + 86400 * i for i in range(4)]
    write_bronze(store, yahoo_body("AAPL", stamps, CLOSES, [c + 1 for c in CLOSES],
                                   [c - 1 for c in CLOSES], CLOSES, [100, 200, 300, 400]),
                 symbol="AAPL", ingest_date=D1)
    write_bronze(store, yahoo_body("MSFT", stamps[:2], [50, 51], [52, 53], [49, 50], [51, 52],
                                   [10, 20]), symbol="MSFT", ingest_date=D1)


def gold(spark, config):
    return spark.read.format("delta").load(config.lake_path("gold", "daily"))


def state_writes(spark, config):
    """The save modes of gold/_state's data commits, oldest first."""
    history = DeltaTable.forPath(spark, config.lake_path("gold", "_state")).history()
    return [
        r["operationParameters"]["mode"]
        for r in sorted(history.collect(), key=lambda r: r["version"])
        if r["operation"] == "WRITE"
    ]


def states(spark, config):
    """gold/_state as sorted (source table, version) pairs."""
    frame = spark.read.format("delta").load(config.lake_path("gold", "_state"))
    return sorted((r["source_table"], r["source_version"]) for r in frame.collect())


def silver_versions(spark, config):
    """The silver tables' latest versions, from their own histories (the oracle)."""
    return sorted(
        (f"silver/{name}", DeltaTable.forPath(spark, config.lake_path("silver", name))
         .history(1).first()["version"])
        for name in ("prices", "corporate_actions")
    )


def run_both(spark, config, interval):
    run_transform(config, interval, spark=spark)
    return run_aggregate(config, interval, spark=spark)


def test_aggregate_full_then_noop_then_incremental(spark, tmp_path):
    config = load_config({"LAKE_ROOT": str(tmp_path), "WATCHLIST": "AAPL,MSFT"})
    store = store_from_config(config)
    seed(store)
    interval = Interval.for_date(D1)
    first = run_both(spark, config, interval)
    assert (first.mode, first.rows_in, first.rows_out, first.symbols) == ("full", 6, 6, 2)
    rows = {(r["symbol"], r["trade_date"]): r for r in gold(spark, config).collect()}
    day2 = rows[("AAPL", D1 + timedelta(days=1))]
    assert abs(day2["return_simple"] - 0.1) < 1e-12
    assert day2["vwap"] == (12.0 + 10.0 + 11.0) / 3 and day2["bar_count"] == 1
    assert rows[("AAPL", D1 + timedelta(days=3))]["drawdown"] == 11.0 / 12.1 - 1
    assert day2["sma_20"] is None
    before = content_hash(gold(spark, config).collect())
    # a first run appends its state: nothing to replace, so no file list to rebuild
    assert state_writes(spark, config) == ["Append"]
    assert states(spark, config) == silver_versions(spark, config)

    again = run_both(spark, config, interval)
    assert (again.mode, again.rows_out) == ("noop", 0)
    assert content_hash(gold(spark, config).collect()) == before

    # a later fetch corrects AAPL's 2nd day: that day and the ones after change, MSFT not
    write_bronze(store, yahoo_body("AAPL", [BASE + 86400], [11.0], [14.0], [10.0], [13.0], [250]),
                 symbol="AAPL", ingest_date=D1 + timedelta(days=1),
                 fetched_at=datetime(2024, 1, 3, 22, 0, tzinfo=UTC))
    third = run_both(spark, config, Interval.for_date(D1 + timedelta(days=1)))
    assert (third.mode, third.rows_in, third.symbols) == ("incremental", 1, 1)
    assert (third.rows_inserted, third.rows_updated) == (0, 3)  # days 2, 3 (return), 4 (dd)
    rows = {(r["symbol"], r["trade_date"]): r for r in gold(spark, config).collect()}
    assert rows[("AAPL", D1 + timedelta(days=1))]["close_adj"] == 13.0
    assert abs(rows[("AAPL", D1 + timedelta(days=2))]["return_simple"] - (12.1 / 13 - 1)) < 1e-12
    assert rows[("AAPL", D1 + timedelta(days=3))]["drawdown"] == 11.0 / 13.0 - 1
    # a later run replaces the state: one row per silver table, at its new version
    assert state_writes(spark, config) == ["Append", "Overwrite"]
    assert states(spark, config) == silver_versions(spark, config)

    # incremental == full recompute
    incremental = content_hash(gold(spark, config).collect())
    full = run_aggregate(config, interval, spark=spark, full_refresh=True)
    assert full.mode == "full" and full.rows_out == 0
    assert content_hash(gold(spark, config).collect()) == incremental


def test_aggregate_on_minio(s3_spark):
    spark, env = s3_spark
    config = load_config({**env, "WATCHLIST": "AAPL,MSFT"})
    seed(store_from_config(config))
    first = run_both(spark, config, Interval.for_date(D1))
    assert (first.mode, first.rows_out) == ("full", 6)
    before = content_hash(gold(spark, config).collect())
    assert run_aggregate(config, Interval.for_date(D1), spark=spark).mode == "noop"
    assert content_hash(gold(spark, config).collect()) == before


def test_the_jobs_make_their_small_tables_without_python_workers(spark, tmp_path, monkeypatch):
    # createDataFrame over a list (or an RDD of one) starts Spark's Python worker in a
    # fresh driver (~1.3 s) and hides an empty table from the optimizer (common/frames.py)
    def refuse(*args, **kwargs):
        raise AssertionError("a job built a DataFrame from a Python list or RDD")

    monkeypatch.setattr(spark, "createDataFrame", refuse)
    monkeypatch.setattr(spark.sparkContext, "parallelize", refuse)
    config = load_config({"LAKE_ROOT": str(tmp_path), "WATCHLIST": "AAPL,MSFT"})
    seed(store_from_config(config))
    # a first load (the manifest, gold's starts and state, no actions and no gold yet),
    # then a full refresh over the gold it wrote
    first = run_both(spark, config, Interval.for_date(D1))
    assert (first.mode, first.rows_out) == ("full", 6)
    full = run_aggregate(config, Interval.for_date(D1), spark=spark, full_refresh=True)
    assert (full.mode, full.rows_out) == ("full", 0)
