"""Delta Lake helpers shared by the silver and gold jobs (I/O only, no business rules).

* :func:`ensure_table` creates a table with an explicit schema, its CHECK constraints
  and table properties when it does not exist yet (never inferred from a DataFrame).
* :func:`merge_upsert` is the one MERGE the jobs use: key match plus optional
  pruning predicates on the target (so Delta skips files of other symbols/dates),
  update only when the caller's condition says the row really changed.
* :func:`latest_version`, :func:`read_changes` read the Delta log / Change Data Feed.

One writer per table at a time: Delta on S3 (``S3SingleDriverLogStore``) gives no
mutual exclusion between two drivers committing to the same table, so the pipeline
never runs two writers of one table concurrently (Airflow pools / one `medallion run`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableSpec:
    """What a Delta table must look like: schema, CHECK constraints, properties."""

    name: str
    schema: StructType
    constraints: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)
    partition_by: Sequence[str] = ()


def is_delta_table(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def ensure_table(spark: SparkSession, path: str, spec: TableSpec) -> None:
    """Create the table at ``path`` if missing, then add any missing CHECK constraint.

    Idempotent; existing data is never touched. A constraint that existing rows
    violate makes ``ALTER TABLE`` fail loudly (Delta validates it on add).
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(spec.schema)
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        for key, value in spec.properties.items():
            builder = builder.property(key, value)
        # Constraints set at creation as table properties: one commit, enforced exactly
        # like ALTER TABLE ADD CONSTRAINT (which costs a commit + a scan each).
        for name, expression in spec.constraints.items():
            builder = builder.property(f"delta.constraints.{name}", expression)
        builder.execute()
        logger.info("created Delta table %s at %s", spec.name, path)
        return
    if not spec.constraints:
        return
    existing = {
        key.lower()[len("delta.constraints.") :]
        for key in DeltaTable.forPath(spark, path).detail().first()["properties"]
        if key.lower().startswith("delta.constraints.")
    }
    for name, expression in spec.constraints.items():
        if name.lower() not in existing:
            spark.sql(f"ALTER TABLE delta.`{path}` ADD CONSTRAINT {name} CHECK ({expression})")
            logger.info("added constraint %s on %s", name, spec.name)


def latest_version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).history(1).first()["version"])


def table_id(spark: SparkSession, path: str) -> str:
    from delta.tables import DeltaTable

    return str(DeltaTable.forPath(spark, path).detail().first()["id"])


def read_snapshot(spark: SparkSession, path: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def read_changes(spark: SparkSession, path: str, start: int, end: int) -> DataFrame:
    """Change Data Feed rows of commits ``start..end`` (inclusive) of the table."""
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", start)
        .option("endingVersion", end)
        .load(path)
    )


def merge_upsert(
    spark: SparkSession,
    path: str,
    source: DataFrame,
    keys: Sequence[str],
    *,
    prune: Column | None = None,
    update_when: Column | str | None = None,
    update: bool = True,
) -> dict[str, int]:
    """MERGE ``source`` into the table at ``path`` on ``keys``; returns the commit metrics.

    ``prune`` is a predicate on the *target* alias ``t`` (for example symbol IN (...)
    AND trade_date >= ...) that lets Delta skip files that cannot match. ``update_when``
    limits updates to rows that really changed (so a re-run commits no changes and the
    Change Data Feed stays quiet). With ``update=False`` the MERGE only inserts.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    condition = None
    for key in keys:
        term = F.col(f"t.`{key}`") == F.col(f"s.`{key}`")
        condition = term if condition is None else condition & term
    if prune is not None:
        condition = condition & prune
    target = DeltaTable.forPath(spark, path).alias("t")
    builder = target.merge(source.alias("s"), condition)
    if update:
        builder = builder.whenMatchedUpdateAll(condition=update_when)
    builder.whenNotMatchedInsertAll().execute()
    return last_commit_metrics(spark, path)


def last_commit_metrics(spark: SparkSession, path: str) -> dict[str, int]:
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).first()
    metrics = row["operationMetrics"] or {}
    out: dict[str, int] = {"version": int(row["version"])}
    for key, value in metrics.items():
        try:
            out[key] = int(value)
        except (TypeError, ValueError):
            continue
    return out


def changed(columns: Sequence[str], left: str = "t", right: str = "s") -> Column:
    """True when any of ``columns`` differs between the aliases (null-safe)."""
    from pyspark.sql import functions as F

    expr = None
    for name in columns:
        term = ~F.col(f"{left}.`{name}`").eqNullSafe(F.col(f"{right}.`{name}`"))
        expr = term if expr is None else expr | term
    return expr if expr is not None else F.lit(False)
