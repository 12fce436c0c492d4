"""merge_upsert: first load appends (constraints still enforced); later loads MERGE and
report the MERGE's own metrics, equal to the commit's history entry."""

from __future__ import annotations

import pytest
from delta.tables import DeltaTable
from pyspark.sql.types import LongType, StructField, StructType

from medallion.common.delta import (
    TableSpec,
    ensure_table,
    latest_version,
    merge_upsert,
    table_id,
    table_properties,
)

SPEC = TableSpec(
    name="t",
    schema=StructType([StructField("k", LongType(), False), StructField("v", LongType())]),
    constraints={"v_non_negative": "v >= 0"},
    properties={"delta.enableChangeDataFeed": "true"},
)


def rows(spark, path):
    return sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())


def test_first_load_append_enforces_constraints_then_merges(spark, tmp_path):
    path = str(tmp_path / "t")
    ensure_table(spark, path, SPEC)
    detail = DeltaTable.forPath(spark, path).detail().first()
    assert table_id(spark, path) == detail["id"]
    assert table_properties(spark, path) == dict(detail["properties"])

    # empty target -> append path: a violating row still fails and commits nothing
    with pytest.raises(Exception, match="v_non_negative"):
        merge_upsert(spark, path, spark.createDataFrame([(1, -1)], "k int, v int"), ["k"])
    assert rows(spark, path) == [] and latest_version(spark, path) == 0

    first = merge_upsert(
        spark, path, spark.createDataFrame([(1, 1), (2, 2)], "k int, v int"), ["k"]
    )
    history = DeltaTable.forPath(spark, path).history(1).first()
    assert history["operation"] == "WRITE"  # one append commit, no MERGE
    assert first["version"] == history["version"] == 1
    assert first["numTargetRowsInserted"] == 2 and first["numTargetRowsUpdated"] == 0

    second = merge_upsert(
        spark, path, spark.createDataFrame([(1, 5), (3, 3)], "k long, v long"), ["k"]
    )
    history = DeltaTable.forPath(spark, path).history(1).first()
    assert history["operation"] == "MERGE"
    assert second["version"] == history["version"] == 2
    for key in ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted"):
        assert second[key] == int(history["operationMetrics"][key])
    assert rows(spark, path) == [(1, 5), (2, 2), (3, 3)]
