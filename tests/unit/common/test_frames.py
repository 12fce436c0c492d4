"""Small driver-side tables as LocalRelations (medallion.common.frames), on the live session.

The oracle for the values is PySpark's own ``createDataFrame`` over the same rows; what
the helpers add is where the rows live (the JVM, no Python worker, no Spark job) and that
the optimizer knows an empty one is empty.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from medallion.common.frames import empty_frame, local_frame
from tests.spark_jobs import jobs_started

SCHEMA = StructType(
    [
        StructField("symbol", StringType(), False),
        StructField("day", DateType()),
        StructField("rows", LongType(), False),
        StructField("count", IntegerType()),
        StructField("price", DoubleType()),
        StructField("at", TimestampType()),
        StructField("ok", BooleanType()),
    ]
)
ROWS = [
    (
        "PETR4.SA",
        date(2025, 1, 2),
        2**40,
        7,
        38.125,
        datetime(2025, 1, 2, 13, 4, 5, 123456, UTC),
        True,
    ),
    ("quote'\"\\ é", None, -1, None, float("inf"), None, False),
    (
        "VALE3.SA",
        date(1999, 12, 31),
        0,
        -3,
        1e-300,
        datetime(2025, 1, 2, 10, 0, tzinfo=timezone(timedelta(hours=-3))),
        None,
    ),
    ("MAX", date(9999, 12, 31), 2**63 - 1, 2**31 - 1, 0.1, None, None),
    ("MIN", date(1, 1, 1), -(2**63), -(2**31), 1 / 3, None, None),
    ("ZERO", None, 1, None, -0.0, None, None),
]


def _optimized(frame) -> str:
    return frame._jdf.queryExecution().optimizedPlan().toString()


def test_local_frame_holds_what_create_data_frame_holds(spark):
    frame = local_frame(spark, ROWS, SCHEMA)
    assert frame.schema == SCHEMA  # nullability included
    assert frame.collect() == spark.createDataFrame(ROWS, SCHEMA).collect()
    nan = local_frame(spark, [("NAN", None, 1, None, float("nan"), None, None)], SCHEMA)
    assert math.isnan(nan.first()["price"])


def test_local_frame_is_a_local_relation_made_and_read_without_a_spark_job(spark):
    frames = []
    assert jobs_started(spark, lambda: frames.append(local_frame(spark, ROWS, SCHEMA))) == 0
    assert _optimized(frames[0]).startswith("LocalRelation")
    assert jobs_started(spark, frames[0].collect) == 0
    # the count sees jobs: createDataFrame's rows are read by a Spark job (a Python task)
    assert jobs_started(spark, spark.createDataFrame(ROWS, SCHEMA).collect) >= 1
    # what createDataFrame makes instead: an RDD of pickled rows that a Python worker reads
    assert _optimized(spark.createDataFrame(ROWS, SCHEMA)).startswith("LogicalRDD")


def test_an_empty_frame_prunes_the_joins_over_it(spark):
    bars = spark.range(100).selectExpr("'X' AS symbol", "id")
    keys = ["symbol"]
    empty = empty_frame(spark, SCHEMA)
    assert empty.schema == SCHEMA and empty.collect() == []
    inner = _optimized(bars.join(empty, keys, "inner"))
    assert inner.startswith("LocalRelation <empty>"), inner
    left = _optimized(bars.join(empty, keys, "left"))
    assert "Join" not in left, left
    # an empty createDataFrame is an RDD the optimizer cannot see into: the join stays
    assert "Join" in _optimized(bars.join(spark.createDataFrame([], SCHEMA), keys, "left"))
    assert local_frame(spark, [], SCHEMA).collect() == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("A", None, "12", None, None, None, None), r"field rows \(bigint\): '12' is a str"),
        (("A", None, True, None, None, None, None), r"field rows \(bigint\): True is a bool"),
        ((None, None, 1, None, None, None, None), "field symbol is not nullable"),
        (("A", datetime(2025, 1, 2, tzinfo=UTC), 1, None, None, None, None), "field day"),
        (("A", None, 1, None, None, datetime(2025, 1, 2), None), "field at"),
        (("A", None, 1, 2.5, None, None, None), r"field count \(int\)"),
        (("A", None, 1, 2**31, None, None, None), r"field count \(int\): 2147483648 is out"),
        (("A", None, 2**63, None, None, None, None), r"field rows \(bigint\): 9223372036854775808"),
        (("A", None), "a row of 2 values for 7 fields"),
    ],
)
def test_a_value_that_does_not_fit_names_its_field(spark, row, message):
    with pytest.raises(ValueError, match=message):
        local_frame(spark, [row], SCHEMA)


def test_the_json_reader_refuses_what_the_checks_let_through(spark, monkeypatch):
    # the second line of defence: with the Python checks bypassed, a text in a bigint
    # field still fails (FAILFAST) instead of becoming NULL in a non-nullable field
    import medallion.common.frames as frames

    monkeypatch.setattr(frames, "_json_value", lambda name, data_type, value: value)
    with pytest.raises(ValueError, match="do not fit the schema"):
        local_frame(spark, [("A", None, "twelve", None, None, None, None)], SCHEMA)
