"""Small tables made on the driver (a run's manifest, its state, an empty side of a join)
as DataFrames the JVM holds itself.

PySpark's ``spark.createDataFrame(list)`` parallelizes the rows into an RDD that Spark's
Python worker unpickles: the first one in a process starts the worker daemon (1.3 s in
a fresh driver, measured), every query over it runs Python tasks, and the optimizer sees
an opaque RDD: an empty one is not known to be empty, so the joins, windows and unions
over it are planned and run on nothing. Here the rows travel to the JVM as one JSON
string, the optimizer parses it (``from_json`` over a one-row LocalRelation is folded
into a LocalRelation, no Spark job) and they come back as a LocalRelation with the exact
schema, nullability included: no Python worker, and an empty frame is known to be empty
before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType


def empty_frame(spark: SparkSession, schema: StructType) -> DataFrame:
    """No rows, ``schema``'s columns: a LocalRelation the optimizer prunes joins with."""
    return _from_java_rows(spark, spark._jvm.java.util.ArrayList(), schema)


def local_frame(
    spark: SparkSession, rows: Iterable[Sequence[Any]], schema: StructType
) -> DataFrame:
    """``rows`` (tuples in ``schema``'s field order) as a DataFrame of ``schema``.

    Fields of string, integral, floating-point, boolean, date and timestamp types; a
    timestamp's value must carry its time zone. A value of the wrong type or out of its
    type's range, a None in a non-nullable field or a row of the wrong length raises
    ValueError naming the field: nothing is silently turned into NULL or wrapped around.
    """
    from py4j.protocol import Py4JJavaError
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, StructType

    records = [_record(row, schema) for row in rows]
    if not records:
        return empty_frame(spark, schema)
    jvm = spark._jvm
    no_values = spark.sparkContext._gateway.new_array(jvm.java.lang.Object, 0)
    one_row = jvm.java.util.ArrayList()
    one_row.add(jvm.org.apache.spark.sql.RowFactory.create(no_values))
    anchor = DataFrame(
        spark._jsparkSession.createDataFrame(one_row, _java(spark, StructType())), spark
    )
    parsed = anchor.select(
        F.from_json(F.lit(json.dumps(records)), ArrayType(schema), {"mode": "FAILFAST"})
    )
    try:
        java_rows = parsed._jdf.collectAsList().get(0).getList(0)
    except Py4JJavaError as exc:  # checked above; the JSON reader (FAILFAST) is the second line
        raise ValueError(f"rows do not fit the schema {schema.simpleString()}") from exc
    return _from_java_rows(spark, java_rows, schema)


def _java(spark: SparkSession, data_type: DataType) -> Any:
    return spark._jvm.org.apache.spark.sql.types.DataType.fromJson(data_type.json())


def _from_java_rows(spark: SparkSession, java_rows: Any, schema: StructType) -> DataFrame:
    from pyspark.sql import DataFrame

    return DataFrame(spark._jsparkSession.createDataFrame(java_rows, _java(spark, schema)), spark)


def _record(row: Sequence[Any], schema: StructType) -> dict[str, Any]:
    values = tuple(row)
    if len(values) != len(schema.fields):
        raise ValueError(
            f"a row of {len(values)} values for {len(schema.fields)} fields "
            f"({', '.join(schema.fieldNames())}): {values!r}"
        )
    record = {}
    for field, value in zip(schema.fields, values, strict=True):
        if value is None:
            if not field.nullable:
                raise ValueError(f"field {field.name} is not nullable, got None")
            record[field.name] = None
        else:
            record[field.name] = _json_value(field.name, field.dataType, value)
    return record


def _json_value(name: str, data_type: DataType, value: Any) -> Any:
    """``value`` as the JSON the reader turns into ``data_type``; ValueError if it cannot."""
    from pyspark.sql import types as T

    def wrong() -> ValueError:
        return ValueError(
            f"field {name} ({data_type.simpleString()}): {value!r} is a {type(value).__name__}"
        )

    if isinstance(data_type, T.StringType):
        if not isinstance(value, str):
            raise wrong()
        return value
    if isinstance(data_type, T.BooleanType):
        if not isinstance(value, bool):
            raise wrong()
        return value
    if isinstance(data_type, T.ByteType | T.ShortType | T.IntegerType | T.LongType):
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong()
        bits = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64}[data_type.simpleString()]
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise ValueError(
                f"field {name} ({data_type.simpleString()}): {value} is out of its range"
            )
        return value
    if isinstance(data_type, T.FloatType | T.DoubleType):
        if not isinstance(value, float | int) or isinstance(value, bool):
            raise wrong()
        return float(value)  # NaN and infinities too: the reader takes them
    if isinstance(data_type, T.TimestampType):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise wrong()
        return value.isoformat()
    if isinstance(data_type, T.DateType):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise wrong()
        return value.isoformat()
    raise ValueError(f"field {name}: type {data_type.simpleString()} is not supported here")
