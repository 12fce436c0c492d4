"""Silver job on a real Delta lake: local file system and MinIO through s3a://."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from medallion.common.config import load_config
from medallion.common.intervals import Interval
from medallion.common.storage import store_from_config
from medallion.transformer import job as transformer_job
from medallion.transformer.job import ConservationError, run_transform
from medallion.transformer.testing import content_hash, write_bronze, yahoo_body, yahoo_error_body

D1, D2 = date(2024, 1, 2), date(2024, 1, 3)
T1, T2, T3 = 1704205800, 1704292200, 1704378600  # 14:30 UTC on Jan 2, 3, 4


def table(spark, config, name):
    return spark.read.format("delta").load(config.lake_path("silver", name))


def seed_day1(store):
    write_bronze(store, yahoo_body("AAPL", [T1, T2, T2], [10, 11, 11.5], [12, 13, 13.5],
                                   [9, 10, 10.5], [11, 12, 12.5], [100, 200, 250],
                                   [11, 12, 12.5]),
                 symbol="AAPL", ingest_date=D1)
    write_bronze(store, yahoo_error_body(), symbol="MSFT", ingest_date=D1, error="chart_error",
                 error_message="No data found")
    write_bronze(store, yahoo_body("7203.T", [T1], [5], [4], [3], [4.5], [10],
                                   tz="Asia/Tokyo", gmtoffset=32400),
                 symbol="7203.T", ingest_date=D1)  # high below open: quarantined


def check_first_run(spark, config, result):
    assert (result.rows_in, result.rows_out, result.quarantined) == (5, 2, 3)
    assert result.rows_in == result.rows_out + result.quarantined
    assert result.quarantine_by_rule == {
        "duplicate_timestamp": 1, "error_payload": 1, "high_below_low_open_close": 1}
    prices = {r["ts"]: r for r in table(spark, config, "prices").collect()}
    assert sorted(r["close"] for r in prices.values()) == [11.0, 12.5]
    assert table(spark, config, "_processed").count() == 3


def test_transform_local_idempotent_then_updated_by_a_later_fetch(spark, tmp_path):
    config = load_config({"LAKE_ROOT": str(tmp_path), "WATCHLIST": "AAPL,MSFT,7203.T"})
    store = store_from_config(config)
    seed_day1(store)

    first = run_transform(config, Interval.for_date(D1), spark=spark)
    check_first_run(spark, config, first)
    hashes = [content_hash(table(spark, config, n).collect())
              for n in ("prices", "quarantine", "_processed")]

    again = run_transform(config, Interval.for_date(D1), spark=spark)
    assert (again.objects_new, again.rows_in, again.rows_out) == (0, 0, 0)
    assert hashes == [content_hash(table(spark, config, n).collect())
                      for n in ("prices", "quarantine", "_processed")]

    # next day's fetch overlaps one bar (T2) with a corrected close and adds T3
    later = write_bronze(
        store, yahoo_body("AAPL", [T2, T3], [11, 12], [13, 14], [10, 11], [12.75, 13],
                          [260, 300], [12.75, 13]),
        symbol="AAPL", ingest_date=D2, fetched_at=datetime(2024, 1, 3, 22, 0, tzinfo=UTC))
    second = run_transform(config, Interval(D1, date(2024, 1, 4)), spark=spark)
    assert (second.objects_new, second.rows_inserted, second.rows_updated) == (1, 1, 1)
    rows = {r["ts"].day: r for r in table(spark, config, "prices").collect()}
    assert rows[3]["close"] == 12.75 and rows[3]["volume"] == 260
    assert rows[3]["source_object"] == later
    assert rows[4]["trade_date"] == date(2024, 1, 4)

    # an older fetch processed afterwards never overwrites a newer one
    write_bronze(
        store, yahoo_body("AAPL", [T2], [11], [13], [10], [12.0], [1]),
        symbol="AAPL", ingest_date=D2, run_id="old", fetched_at=datetime(2024, 1, 3, 1, 0))
    run_transform(config, Interval.for_date(D2), spark=spark)
    rows = {r["ts"].day: r for r in table(spark, config, "prices").collect()}
    assert rows[3]["close"] == 12.75


def test_conservation_violation_raises_and_writes_nothing(spark, tmp_path, monkeypatch):
    config = load_config({"LAKE_ROOT": str(tmp_path), "WATCHLIST": "AAPL"})
    store = store_from_config(config)
    write_bronze(store, yahoo_body("AAPL", [T1, T2], [1, 1], [2, 2], [0.5, 0.5], [1.5, 1.5],
                                   [5, 5]), symbol="AAPL", ingest_date=D1)
    from medallion.transformer import transform

    real = transform.explode_bars
    monkeypatch.setattr(transform, "explode_bars",
                        lambda payloads: real(payloads).where("bar_index <> 1"))  # loses a bar
    with pytest.raises(ConservationError, match="2 rows parsed != 1 accepted"):
        run_transform(config, Interval.for_date(D1), spark=spark)
    assert table(spark, config, "prices").count() == 0
    assert table(spark, config, "_processed").count() == 0
    assert transformer_job.ConservationError.exit_code == 4


def test_transform_on_minio(s3_spark):
    spark, env = s3_spark
    config = load_config({**env, "WATCHLIST": "AAPL,MSFT,7203.T"})
    store = store_from_config(config)
    seed_day1(store)
    first = run_transform(config, Interval.for_date(D1), spark=spark)
    assert config.lake_path("silver", "prices").startswith("s3a://")
    check_first_run(spark, config, first)
    before = content_hash(table(spark, config, "prices").collect())
    again = run_transform(config, Interval.for_date(D1), spark=spark)
    assert again.objects_new == 0
    assert content_hash(table(spark, config, "prices").collect()) == before
