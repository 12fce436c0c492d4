"""merge_upsert: first load appends (constraints still enforced); later loads MERGE and
report the MERGE's own metrics, equal to the commit's history entry."""

from __future__ import annotations

import pytest
from delta.tables import DeltaTable
from pyspark.sql.types import LongType, StructField, StructType

from medallion.common.config import load_config
from medallion.common.delta import (
    TableSpec,
    ensure_table,
    last_commit_metrics,
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


def _history_metrics(spark, path) -> dict[str, int]:
    """The oracle: Delta's own DESCRIBE HISTORY entry of the latest commit."""
    entry = DeltaTable.forPath(spark, path).history(1).first()
    metrics = {k: int(v) for k, v in (entry["operationMetrics"] or {}).items()}
    return {"version": int(entry["version"]), **metrics}


@pytest.mark.parametrize("lake", ["local", "minio"])
def test_last_commit_metrics_read_from_the_log_equal_the_history(lake, request, tmp_path):
    if lake == "minio":
        spark, env = request.getfixturevalue("s3_spark")
        path = load_config(env).lake_path("commit-metrics", tmp_path.name)
    else:
        spark, path = request.getfixturevalue("spark"), str(tmp_path / "t")
    ensure_table(spark, path, SPEC)
    merge_upsert(spark, path, spark.createDataFrame([(1, 1), (2, 2)], "k long, v long"), ["k"])
    appended = last_commit_metrics(spark, path)
    assert appended == _history_metrics(spark, path)
    assert (appended["version"], appended["numOutputRows"]) == (1, 2)
    merge_upsert(spark, path, spark.createDataFrame([(1, 5), (3, 3)], "k long, v long"), ["k"])
    merged = last_commit_metrics(spark, path)
    assert merged == _history_metrics(spark, path)
    assert (merged["numTargetRowsUpdated"], merged["numTargetRowsInserted"]) == (1, 1)
    assert last_commit_metrics(spark, path + "/") == merged


def test_last_commit_metrics_fall_back_to_the_history(spark, tmp_path, monkeypatch):
    # a commit file this way cannot read (a moved file, a Delta whose internals changed)
    import medallion.common.delta as delta

    path = str(tmp_path / "t")
    ensure_table(spark, path, SPEC)
    merge_upsert(spark, path, spark.createDataFrame([(1, 1)], "k long, v long"), ["k"])
    jvm_path = spark._jvm.org.apache.hadoop.fs.Path
    monkeypatch.setattr(delta, "_commit_file", lambda *a: jvm_path(str(tmp_path / "gone.json")))
    assert last_commit_metrics(spark, path) == _history_metrics(spark, path)
