"""silver/prices is partitioned by the month of the trade date: an existing unpartitioned
table is migrated in place by the normal run, and after compaction a late correction
rewrites only its own month. Real Spark + Delta on the local file system."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from medallion.aggregator.job import run_aggregate
from medallion.common.config import load_config
from medallion.common.delta import partition_columns, table_id, table_properties
from medallion.common.storage import store_from_config
from medallion.maintenance.tables import run_maintenance
from medallion.transformer.job import run_transform
from medallion.transformer.schemas import PRICES
from medallion.transformer.testing import content_hash, write_bronze, yahoo_body
from tests.integration.market_fixture import DAYS, INTERVAL, WATCHLIST, open_ts, write_fixture

NEW_CONSTRAINTS = ("trade_month_of_trade_date", "required_columns")


def lake(tmp_path: Path, name: str):
    return load_config({"LAKE_ROOT": str(tmp_path / name), "WATCHLIST": WATCHLIST})


def prices(spark, config):
    return spark.read.format("delta").load(config.lake_path("silver", "prices"))


def correction(config, day: date, close: float, hour: int) -> None:
    """A later fetch of ``day``'s MSFT bar with another close (a provider's correction)."""
    write_bronze(
        store_from_config(config),
        yahoo_body("MSFT", [open_ts(day)], [close], [close + 1], [close - 1], [close], [777]),
        symbol="MSFT",
        ingest_date=DAYS[-1],
        run_id=f"fix-{day.isoformat()}-{hour}",
        fetched_at=datetime(2024, 3, 20, hour, 0, tzinfo=UTC),
    )


def downgrade_to_unpartitioned(spark, config) -> None:
    """Make silver/prices what the jobs wrote before the partitioning: no trade_month, no
    partitions, none of the constraints that came with them (same table, same id)."""
    path = config.lake_path("silver", "prices")
    for name in NEW_CONSTRAINTS:
        spark.sql(f"ALTER TABLE delta.`{path}` DROP CONSTRAINT {name}")
    (
        prices(spark, config).drop("trade_month").write.format("delta").mode("overwrite")
        .option("overwriteSchema", "true").save(path)
    )
    assert partition_columns(spark, path) == []


@pytest.fixture(scope="module")
def fresh(spark, tmp_path_factory):
    """The fixture's bronze plus a correction of MSFT on Jan 5, in a lake that never had
    the old layout: the migrated lake's oracle."""
    config = lake(tmp_path_factory.mktemp("partitioning"), "fresh")
    write_fixture(store_from_config(config))
    correction(config, DAYS[3], 401.0, hour=12)
    run_transform(config, INTERVAL, spark=spark)
    run_aggregate(config, INTERVAL, spark=spark)
    return config


def test_an_unpartitioned_prices_table_is_migrated_in_place_by_the_normal_run(
    spark, fresh, tmp_path
):
    old = lake(tmp_path, "old")
    write_fixture(store_from_config(old))
    run_transform(old, INTERVAL, spark=spark)
    run_aggregate(old, INTERVAL, spark=spark)
    downgrade_to_unpartitioned(spark, old)
    run_aggregate(old, INTERVAL, spark=spark)  # gold has consumed silver up to the downgrade
    path = old.lake_path("silver", "prices")
    identity = table_id(spark, path)
    rows_before = prices(spark, old).count()

    # the next run brings a correction and meets the old table
    correction(old, DAYS[3], 401.0, hour=12)
    run_transform(old, INTERVAL, spark=spark)
    run_aggregate(old, INTERVAL, spark=spark)

    assert partition_columns(spark, path) == ["trade_month"]
    assert table_id(spark, path) == identity  # the same table, not a new one
    properties = table_properties(spark, path)
    assert all(f"delta.constraints.{n}" in properties for n in PRICES.constraints)
    migrated = prices(spark, old)
    assert migrated.count() == rows_before  # a correction of a stored bar: no new row
    assert migrated.where(F.col("trade_month") != F.trunc("trade_date", "MM")).count() == 0

    # oracle: the same bronze in a lake that never had the old layout
    assert content_hash(migrated.collect()) == content_hash(prices(spark, fresh).collect())
    gold = {c: spark.read.format("delta").load(c.lake_path("gold", "daily")) for c in (old, fresh)}
    assert content_hash(gold[old].collect()) == content_hash(gold[fresh].collect())
    fixed = migrated.where((F.col("symbol") == "MSFT") & (F.col("trade_date") == DAYS[3]))
    assert fixed.first()["close"] == 401.0  # the correction landed in the migrated table


def removed_and_added_months(path: str, version: int) -> tuple[set[str], set[str]]:
    """Partition values (trade_month) of the files one commit removed and added."""
    log = Path(path) / "_delta_log" / f"{version:020d}.json"
    removed, added = set(), set()
    for line in log.read_text().splitlines():
        action = json.loads(line)
        for kind, into in (("remove", removed), ("add", added)):
            if kind in action:
                into.add(action[kind].get("partitionValues", {}).get("trade_month", "(none)"))
    return removed, added


def test_after_compaction_a_late_correction_rewrites_only_its_month(spark, fresh):
    config = fresh
    run_maintenance(config, spark=spark, vacuum=False)  # the weekly OPTIMIZE
    path = config.lake_path("silver", "prices")
    january = prices(spark, config).where(F.col("trade_month") == date(2024, 1, 1)).count()
    assert 0 < january < prices(spark, config).count()

    correction(config, DAYS[4], 402.0, hour=13)  # a bar of January 8
    result = run_transform(config, INTERVAL, spark=spark)
    assert result.rows_updated == 1
    removed, added = removed_and_added_months(path, result.silver_version)
    assert removed == {"2024-01-01"}, f"the correction rewrote files of {sorted(removed)}"
    assert added <= {"2024-01-01"}
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()
    assert int(history["operationMetrics"]["numTargetRowsCopied"]) < january
