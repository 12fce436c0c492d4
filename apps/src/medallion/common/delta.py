"""Delta Lake helpers shared by the silver and gold jobs (I/O only, no business rules).

* :func:`ensure_table` creates a table with an explicit schema, its CHECK constraints
  and table properties when it does not exist yet (never inferred from a DataFrame),
  and brings an existing table to the spec: missing nullable columns, a partitioning
  the table predates (:func:`repartition_in_place`), missing constraints.
* :func:`tables_ensured` does the same for several tables, creating the missing ones in
  a background thread while the caller reads its input.
* :func:`merge_upsert` is the one MERGE the jobs use: key match plus optional
  pruning predicates on the target (so Delta skips files of other symbols/dates),
  update only when the caller's condition says the row really changed.
* :func:`latest_version`, :func:`read_changes` read the Delta log / Change Data Feed.

One writer per table at a time: Delta on S3 (``S3SingleDriverLogStore``) gives no
mutual exclusion between two drivers committing to the same table, so each stage holds
its tables' leases (:mod:`medallion.common.lease`) and fences before every commit here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
    # columns computed from other columns of the row (name -> Spark SQL expression): the
    # writers add them with :func:`with_derived`, and a migration fills them in old rows
    derived: Mapping[str, str] = field(default_factory=dict)


def with_derived(frame: DataFrame, spec: TableSpec) -> DataFrame:
    """``frame`` with the spec's derived columns computed from its other columns."""
    from pyspark.sql import functions as F

    for name, expression in spec.derived.items():
        frame = frame.withColumn(name, F.expr(expression))
    return frame


def is_delta_table(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def ensure_table(spark: SparkSession, path: str, spec: TableSpec) -> None:
    """Create the table at ``path`` if missing, then add any missing nullable column
    (an additive schema change of an existing lake) and any missing CHECK constraint.

    Idempotent; existing data is never touched (new columns read as NULL in old rows).
    A constraint that existing rows violate makes ``ALTER TABLE`` fail loudly (Delta
    validates it on add).
    """
    from delta.tables import DeltaTable

    from medallion.common import lease

    if not DeltaTable.isDeltaTable(spark, path):
        lease.fence(path)
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
    if list(spec.partition_by) != partition_columns(spark, path):
        repartition_in_place(spark, path, spec)
    add_missing_columns(spark, path, spec)
    if not spec.constraints:
        return
    existing = {
        key.lower()[len("delta.constraints.") :]
        for key in table_properties(spark, path)
        if key.lower().startswith("delta.constraints.")
    }
    for name, expression in spec.constraints.items():
        if name.lower() not in existing:
            lease.fence(path)
            spark.sql(f"ALTER TABLE delta.`{path}` ADD CONSTRAINT {name} CHECK ({expression})")
            logger.info("added constraint %s on %s", name, spec.name)


@dataclass(frozen=True)
class TableCreation:
    """What :func:`tables_ensured` hands its block: the tables being created in the
    background (they hold no row yet), and ``ready``, which waits for their creation
    and re-raises its error."""

    creating: frozenset[str]
    ready: Callable[[], None]


@contextmanager
def tables_ensured(
    spark: SparkSession, tables: Sequence[tuple[str, TableSpec]]
) -> Iterator[TableCreation]:
    """:func:`ensure_table` for each ``(path, spec)``, the missing ones in the background.

    Existing tables are ensured here, in order, before the block runs: a migration must
    finish before anything reads them. Tables that do not exist yet are created in one
    background thread while the block runs: a first load reads, plans and runs its bronze
    query meanwhile (creating the four silver tables takes ~2 s in a fresh driver, most of
    it the JVM's first Delta command). The block calls ``ready()`` before its first write
    to these tables and does not read the ones in ``creating`` (they are empty).

    Leaving the block waits for the thread, so no creation outlives the block (nor the
    writer's lease), and a block that wrote nothing still sees a creation that failed.
    A block that fails stops the creations not yet started (the next run makes them) and
    carries a creation's own error as a note, so neither error is lost. Only a second
    interrupt during that wait can leave the thread running past the block.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    missing = []
    for path, spec in tables:
        if is_delta_table(spark, path):
            ensure_table(spark, path, spec)
        else:
            missing.append((path, spec))
    if not missing:
        yield TableCreation(frozenset(), lambda: None)
        return

    abandoned = threading.Event()

    def create() -> None:
        for path, spec in missing:
            if abandoned.is_set():
                return
            ensure_table(spark, path, spec)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="create-tables") as pool:
        creation = pool.submit(create)
        try:
            yield TableCreation(frozenset(path for path, _ in missing), creation.result)
        except BaseException as exc:
            abandoned.set()
            pool.shutdown(wait=True)
            failed = creation.exception()
            if failed is not None and failed is not exc:  # not the error ready() re-raised
                logger.error("creating the missing tables failed too: %r", failed)
                exc.add_note(f"creating the missing tables failed too: {failed!r}")
            raise
        creation.result()


def partition_columns(spark: SparkSession, path: str) -> list[str]:
    """The table's partition columns, from the log's metadata."""
    columns = _fresh_snapshot(spark, path).metadata().partitionColumns()
    return [str(c) for c in spark._jvm.scala.jdk.javaapi.CollectionConverters.asJava(columns)]


def repartition_in_place(spark: SparkSession, path: str, spec: TableSpec) -> int:
    """Rewrite the table at ``path`` with the spec's partitioning, in ONE commit.

    For a table written before its spec was partitioned: its rows are read, the derived
    columns computed, and written back over it (same path, same table id, properties and
    CHECK constraints kept; readers see the old or the new files, never an empty table,
    and time travel still reaches the old versions). Delta refuses a partitioning change
    without a data change, so the Change Data Feed shows the rewrite as every row deleted
    and inserted again: a consumer of the feed (the gold job) recomputes from it once and
    finds nothing changed. Delta makes a rewritten schema nullable, which is why the specs
    state their required columns as CHECK constraints too (added right after this).
    Returns the rows rewritten.
    """
    from pyspark.sql import functions as F

    from medallion.common import lease

    before = partition_columns(spark, path)
    rows = with_derived(read_snapshot(spark, path), spec)
    rows = rows.select(*[F.col(f"`{f.name}`").cast(f.dataType) for f in spec.schema])
    count = rows.count()
    logger.warning(
        "%s is partitioned by %s, its spec by %s: rewriting its %d rows once (migration)",
        spec.name,
        before or "nothing",
        list(spec.partition_by),
        count,
    )
    lease.fence(path)
    writer = rows.repartition(*spec.partition_by) if spec.partition_by else rows
    (
        writer.write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .partitionBy(*spec.partition_by)
        .save(path)
    )
    logger.info("migrated %s to partitions %s", spec.name, list(spec.partition_by))
    return count


def add_missing_columns(spark: SparkSession, path: str, spec: TableSpec) -> list[str]:
    """``ALTER TABLE ADD COLUMNS`` for nullable columns of ``spec`` the table lacks."""
    have = {f.name.lower() for f in read_snapshot(spark, path).schema.fields}
    missing = [f for f in spec.schema.fields if f.name.lower() not in have and f.nullable]
    if missing:
        cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({cols})")
        logger.info("added columns %s to %s", [f.name for f in missing], spec.name)
    return [f.name for f in missing]


def _delta_log(spark: SparkSession, path: str):
    """The JVM ``DeltaLog`` of ``path`` (cached per path by Delta itself)."""
    return spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)


def _fresh_snapshot(spark: SparkSession, path: str):
    # update() lists only the _delta_log tail, so the snapshot is the latest commit
    # without the Spark jobs that history()/detail() run (detail() computes sizes).
    none = spark._jvm.scala.Option.empty()
    return _delta_log(spark, path).update(False, none, none)


def latest_version(spark: SparkSession, path: str) -> int:
    return int(_fresh_snapshot(spark, path).version())


def table_properties(spark: SparkSession, path: str) -> dict[str, str]:
    """The table's properties (``detail().properties``) from the log's metadata."""
    return _string_map(spark, _fresh_snapshot(spark, path).metadata().configuration())


def _string_map(spark: SparkSession, scala_map) -> dict[str, str]:
    """A Scala ``Map[String, String]`` of the JVM as a Python dict."""
    as_java = spark._jvm.scala.jdk.javaapi.CollectionConverters.asJava(scala_map)
    return {str(k): str(v) for k, v in as_java.items()}


def table_id(spark: SparkSession, path: str) -> str:
    """The table's metadata id (same value as ``detail().id``), read from the log."""
    return str(_fresh_snapshot(spark, path).metadata().id())


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

    Into a table with no data file (first load) nothing can match, so the rows are
    appended instead: the same rows and one commit, without MERGE's join and its
    double pass over the source; CHECK and NOT NULL constraints apply to appends too.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from medallion.common import faults, lease

    lease.fence(path)  # a writer that lost its table's lease must not commit
    source = faults.guard_frame(source, lease.table_of(path))
    if table_is_empty(spark, path):
        return append_rows(spark, path, source)
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
    outcome = builder.whenNotMatchedInsertAll().execute().first()
    return merge_metrics(spark, path, outcome.asDict() if outcome is not None else None)


def table_is_empty(spark: SparkSession, path: str) -> bool:
    """True when the latest snapshot holds no data file.

    The count comes from the commit's checksum file (``_delta_log/<version>.crc``, which
    Delta writes with each commit) when there is one: ``numOfFiles`` would rebuild the
    snapshot's state in Spark jobs instead (1.8 s in a fresh JVM, right after the table
    was created, measured).
    """
    return _holds_no_file(_fresh_snapshot(spark, path))


def version_and_emptiness(spark: SparkSession, path: str) -> tuple[int, bool]:
    """The latest version and whether it holds no data file, from the same snapshot."""
    snapshot = _fresh_snapshot(spark, path)
    return int(snapshot.version()), _holds_no_file(snapshot)


def _holds_no_file(snapshot) -> bool:
    checksum = snapshot.checksumOpt()
    files = checksum.get().numFiles() if checksum.isDefined() else snapshot.numOfFiles()
    return int(files) == 0


def append_rows(spark: SparkSession, path: str, source: DataFrame) -> dict[str, int]:
    """Append ``source`` by column name, cast to the table's types like MERGE's
    insert would; returns metrics under MERGE's names (all rows are inserts)."""
    from pyspark.sql import functions as F

    target = read_snapshot(spark, path).schema
    rows = source.select(*[F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in target])
    # No repartition by the partition columns first: a first load of one month (the 1M-bar
    # backfill) would be written by one task; as it comes, each task writes a file per
    # month it holds (a few small files per month for daily bars; OPTIMIZE merges them).
    rows.write.format("delta").mode("append").save(path)
    metrics = last_commit_metrics(spark, path)
    inserted = metrics.get("numOutputRows", 0)
    return {
        "version": metrics["version"],
        "numTargetRowsAffected": inserted,
        "numTargetRowsUpdated": 0,
        "numTargetRowsDeleted": 0,
        "numTargetRowsInserted": inserted,
    }


# MERGE's own result row (Delta >= 3) -> the names of the commit's operationMetrics.
_MERGE_RESULT_METRICS = {
    "num_affected_rows": "numTargetRowsAffected",
    "num_updated_rows": "numTargetRowsUpdated",
    "num_deleted_rows": "numTargetRowsDeleted",
    "num_inserted_rows": "numTargetRowsInserted",
}


def merge_metrics(
    spark: SparkSession, path: str, outcome: Mapping[str, object] | None
) -> dict[str, int]:
    """Metrics from the row MERGE returns plus the new version from the log; falls back
    to the last commit's metrics in the log if the row lacks them."""
    if not outcome or not all(outcome.get(k) is not None for k in _MERGE_RESULT_METRICS):
        return last_commit_metrics(spark, path)
    out = {name: int(outcome[key]) for key, name in _MERGE_RESULT_METRICS.items()}
    out["version"] = latest_version(spark, path)
    return out


def last_commit_metrics(spark: SparkSession, path: str) -> dict[str, int]:
    """The latest commit's version and operation metrics, from its ``commitInfo`` read by
    Delta's own commit-file reader on the driver.

    ``DeltaTable.history(1)`` says the same through a Spark job and a DataFrame of every
    history column: 0.1-0.3 s a call in a fresh driver (measured), paid by every append
    of a run. It remains the fallback when the commit file cannot be read this way.
    """
    from py4j.protocol import Py4JError

    snapshot = _fresh_snapshot(spark, path)
    version = int(snapshot.version())
    try:
        metrics = _commit_metrics(spark, path, snapshot, version)
    except Py4JError as exc:  # a file gone, or a Delta whose internals moved
        logger.info("commit %d of %s unreadable from the log (%s)", version, path, exc)
        metrics = None
    if metrics is None:
        return _history_metrics(spark, path)
    return {"version": version, **metrics}


def _commit_file(spark: SparkSession, log, snapshot, version: int):
    """The commit file of ``version``: the snapshot's last delta file when it is that
    version's (a coordinated-commit table's staged file too), else ``<version>.json``
    (a checkpoint ends the log segment: it lists no delta file of its own version)."""
    names = spark._jvm.org.apache.spark.sql.delta.util.FileNames
    deltas = snapshot.logSegment().deltas()
    if not deltas.isEmpty():
        last = deltas.last().getPath()
        if int(names.getFileVersion(last)) == version:
            return last
    return names.unsafeDeltaFile(log.logPath(), version)


def _commit_metrics(
    spark: SparkSession, path: str, snapshot, version: int
) -> dict[str, int] | None:
    """Integer operation metrics of the commit ``version``; None without a commitInfo."""
    log = _delta_log(spark, path)
    info = spark._jvm.org.apache.spark.sql.delta.DeltaHistoryManager.getCommitInfoOpt(
        log.store(), _commit_file(spark, log, snapshot, version), log.newDeltaHadoopConf()
    )
    if not info.isDefined():
        return None
    found = info.get().operationMetrics()
    return _integers(_string_map(spark, found.get())) if found.isDefined() else {}


def _history_metrics(spark: SparkSession, path: str) -> dict[str, int]:
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).first()
    return {"version": int(row["version"]), **_integers(row["operationMetrics"] or {})}


def _integers(metrics: Mapping[str, object]) -> dict[str, int]:
    out: dict[str, int] = {}
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
