"""Silver job: new bronze objects of an interval -> silver/prices, silver/quarantine.

Incremental by a manifest: ``silver/_processed`` holds one row per bronze object already
transformed. A run lists the bronze keys under the interval's ``ingest_date=``
partitions (keys only, through the storage API), subtracts the manifest, and reads
only the remaining bodies -- bronze is never re-read as a whole.

Write order per run: MERGE prices (newest fetch of a bar wins), MERGE corporate actions
(newest fetch of a (symbol, kind, ex_date) wins, updated only when its value changed),
MERGE quarantine (insert-only, keyed by object, record and position), then MERGE the
manifest. Every write
is idempotent, so a run that dies half-way is repaired by running it again.

Conservation (checked before anything is written): for every object, rows parsed (bars
+ corporate actions) = rows accepted + rows quarantined; a violation raises
:class:`ConservationError` (exit code 4) and leaves silver unchanged.

One writer per table at a time: the run holds the leases of its four tables
(:mod:`medallion.common.lease`; Delta on S3 has no cross-driver commit lock).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from medallion.common import faults
from medallion.common.config import Config
from medallion.common.delta import (
    TableCreation,
    TableSpec,
    merge_upsert,
    table_is_empty,
    tables_ensured,
)
from medallion.common.frames import local_frame
from medallion.common.intervals import Interval
from medallion.common.lease import writer_lease
from medallion.common.logs import log_summary
from medallion.common.progress import Progress
from medallion.transformer.schemas import CORPORATE_ACTIONS, PRICES, PROCESSED, QUARANTINE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

logger = logging.getLogger(__name__)

STAGE = "transform"
# Per-file planning cost: small, so many small bronze files share one task.
OPEN_COST_BYTES = str(64 * 1024)


class DataContractError(RuntimeError):
    """A data contract of the pipeline is violated; the CLIs exit with code 4."""

    exit_code = 4


class ConservationError(DataContractError):
    """Parsed bronze rows != accepted + quarantined rows."""


@dataclass
class TransformResult:
    interval: str
    objects_listed: int = 0
    objects_new: int = 0
    objects_waiting_for_meta: int = 0
    rows_in: int = 0
    rows_out: int = 0  # accepted rows (incl. superseded duplicates of the same bar)
    quarantined: int = 0
    rows_merged: int = 0  # distinct (symbol, interval, ts) MERGEd
    rows_inserted: int = 0
    rows_updated: int = 0
    actions_inserted: int = 0  # corporate actions new to silver
    actions_updated: int = 0  # corporate actions whose value a later fetch changed
    quarantine_by_rule: dict[str, int] = field(default_factory=dict)
    silver_version: int | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "quarantined": self.quarantined,
            "seconds": round(self.seconds, 2),
            "interval": self.interval,
            "objects_new": self.objects_new,
            "objects_listed": self.objects_listed,
            "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated,
            "actions_inserted": self.actions_inserted,
            "actions_updated": self.actions_updated,
            "quarantine_by_rule": self.quarantine_by_rule,
        }


# --------------------------------------------------------------------------- listing
def meta_key(key: str) -> str:
    return key[: -len(".json")] + ".meta.json"


def interval_objects(keys: list[str], interval: Interval) -> tuple[list[str], list[str]]:
    """Data object keys of the interval's ingest dates whose sidecar exists, and those
    still waiting for their sidecar (skipped: the ingestor writes the body first)."""
    wanted = {f"/ingest_date={d.isoformat()}/" for d in interval.days()}
    keyset = set(keys)
    ready, waiting = [], []
    for key in keys:
        if not key.endswith(".json") or key.endswith(".meta.json"):
            continue
        if not any(part in key for part in wanted):
            continue
        (ready if meta_key(key) in keyset else waiting).append(key)
    return ready, waiting


def ingest_date_of(key: str) -> date:
    part = next(p for p in key.split("/") if p.startswith("ingest_date="))
    return date.fromisoformat(part[len("ingest_date=") :])


# --------------------------------------------------------------------------- I/O
def silver_tables(config: Config) -> list[tuple[str, TableSpec]]:
    """(path, spec) of the four tables the transform writes."""
    specs = (
        ("prices", PRICES),
        ("corporate_actions", CORPORATE_ACTIONS),
        ("quarantine", QUARANTINE),
        ("_processed", PROCESSED),
    )
    return [(config.lake_path("silver", name), spec) for name, spec in specs]


def processed_keys(spark: SparkSession, config: Config, interval: Interval) -> set[str]:
    from pyspark.sql import functions as F

    path = config.lake_path("silver", "_processed")
    if table_is_empty(spark, path):  # first run: the log says so, no Spark job needed
        return set()
    manifest = spark.read.format("delta").load(path)
    rows = (
        manifest.where(
            (F.col("ingest_date") >= F.lit(interval.start))
            & (F.col("ingest_date") < F.lit(interval.end))
        )
        .select("object_key")
        .collect()
    )
    return {r["object_key"] for r in rows}


def read_bronze_files(spark: SparkSession, uris: list[str]) -> DataFrame:
    """(path, value): one row per file, whole text; files are packed many per task."""
    from pyspark.sql import functions as F

    raw = spark.read.text(uris, wholetext=True)  # the keyword: .text() overrides .option()
    return raw.select(
        F.coalesce(
            F.try_url_decode(F.col("_metadata.file_path")), F.col("_metadata.file_path")
        ).alias("path"),
        F.col("value"),
    )


def valid_zone_ids(spark: SparkSession) -> frozenset[str]:
    """Zone ids the JVM knows (an unknown one would fail the whole Spark job)."""
    # joined in the JVM: iterating the Java set from Python costs a round trip per id
    ids = spark._jvm.java.lang.String.join(",", spark._jvm.java.time.ZoneId.getAvailableZoneIds())
    return frozenset(ids.split(","))


# --------------------------------------------------------------------------- job
@writer_lease(
    STAGE, "silver/prices", "silver/corporate_actions", "silver/quarantine", "silver/_processed"
)
def run_transform(
    config: Config, interval: Interval, spark: SparkSession | None = None
) -> TransformResult:
    from medallion.common.spark import build_spark_session
    from medallion.common.storage import store_from_config

    started = time.monotonic()
    result = TransformResult(interval=str(interval))
    store = store_from_config(config)
    ready, waiting = interval_objects(store.list("bronze/source="), interval)
    result.objects_listed = len(ready)
    result.objects_waiting_for_meta = len(waiting)
    if waiting:
        logger.warning(
            "%d bronze objects have no .meta.json yet; next run takes them", len(waiting)
        )

    own = spark is None
    spark = spark or build_spark_session(config, "medallion-transform", interval)
    previous_open_cost = spark.conf.get("spark.sql.files.openCostInBytes", None)
    spark.conf.set("spark.sql.files.openCostInBytes", OPEN_COST_BYTES)
    try:
        # tables missing (a first load) are created while bronze is read, planned and run
        with tables_ensured(spark, silver_tables(config)) as tables:
            manifest_path = config.lake_path("silver", "_processed")
            done = (
                set()
                if manifest_path in tables.creating
                else processed_keys(spark, config, interval)
            )
            new = [k for k in ready if k not in done]
            result.objects_new = len(new)
            logger.info(
                "transform %s: %d bronze objects listed, %d new", interval, len(ready), len(new)
            )
            if new:
                with Progress("transform", len(new), "objects transformed") as progress:
                    _transform_objects(
                        spark, config, interval, store, new, result, progress, tables
                    )
    finally:
        if previous_open_cost is None:
            spark.conf.unset("spark.sql.files.openCostInBytes")
        else:
            spark.conf.set("spark.sql.files.openCostInBytes", previous_open_cost)
        if own:
            spark.stop()
    result.seconds = time.monotonic() - started
    log_summary(logger, STAGE, **result.summary())
    return result


def _transform_objects(
    spark: SparkSession,
    config: Config,
    interval: Interval,
    store: Any,
    new: list[str],
    result: TransformResult,
    progress: Progress,
    tables: TableCreation,
) -> None:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from medallion.transformer import transform as T

    uris = [store.uri(k) for k in new] + [store.uri(meta_key(k)) for k in new]
    objects = T.bronze_objects(read_bronze_files(spark, uris))
    payloads = T.payloads(objects, valid_zone_ids(spark)).persist(StorageLevel.MEMORY_AND_DISK)
    classified = actions = None
    try:
        classified = T.classify(T.explode_bars(payloads), config.watchlist).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        actions = T.classify_actions(T.explode_actions(payloads), config.watchlist).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        progress.advance(0, "reading and checking bronze")
        # ONE Spark job before any write: expected rows per object, per (object, rule)
        # counts and the MERGE bounds (the three used to be separate passes).
        expected, groups = batch_profile(payloads, classified, actions)
        missing = set(new) - set(expected)
        if missing:
            raise ConservationError(
                f"{len(missing)} bronze objects were listed but not read, e.g. {sorted(missing)[0]}"
            )
        per_object: dict[str, list[int]] = {k: [0, 0] for k in expected}
        by_rule: Counter[str] = Counter()
        for row in groups:
            counts = per_object.setdefault(row["source_object"], [0, 0])
            if row["rule"] is None:
                counts[0] += row["n"]
            else:
                counts[1] += row["n"]
                by_rule[row["rule"]] += row["n"]
        check_conservation(expected, per_object)
        result.rows_in = sum(expected.values())
        result.rows_out = sum(c[0] for c in per_object.values())
        result.quarantined = sum(c[1] for c in per_object.values())
        result.quarantine_by_rule = dict(sorted(by_rule.items()))
        payloads.unpersist()
        bounds = merge_bounds([g for g in groups if g["record"] == "bar"])
        action_winners = sum(int(g["winners"]) for g in groups if g["record"] == "action")

        progress.advance(0, "silver MERGE")
        tables.ready()  # the first write: the tables a first load creates must exist
        transform_run = interval.run_id
        accepted = T.silver_rows(classified)
        result.rows_merged = int(bounds["n"])
        if result.rows_merged:
            metrics = merge_upsert(
                spark,
                config.lake_path("silver", "prices"),
                accepted,
                ["symbol", "interval", "ts"],
                # partition pruning (months) first, then file skipping by statistics
                prune=F.col("t.trade_month").between(bounds["month_lo"], bounds["month_hi"])
                & F.col("t.symbol").isin(sorted(bounds["symbols"]))
                & F.col("t.ts").between(bounds["lo"], bounds["hi"]),
                update_when=newer_fetch(),
            )
            result.rows_inserted = metrics.get("numTargetRowsInserted", 0)
            result.rows_updated = metrics.get("numTargetRowsUpdated", 0)
            result.silver_version = metrics["version"]
        faults.point("transform.after_prices")
        if action_winners:
            metrics = merge_upsert(
                spark,
                config.lake_path("silver", "corporate_actions"),
                T.action_rows(actions),
                ["symbol", "kind", "ex_date"],
                update_when=newer_fetch() & changed_action(),
            )
            result.actions_inserted = metrics.get("numTargetRowsInserted", 0)
            result.actions_updated = metrics.get("numTargetRowsUpdated", 0)
        if result.quarantined:
            merge_upsert(
                spark,
                config.lake_path("silver", "quarantine"),
                T.quarantine_rows(classified, transform_run).unionByName(
                    T.action_quarantine_rows(actions, transform_run)
                ),
                ["source_object", "record", "bar_index"],
                prune=F.col("t.source_object").isin(sorted(new)),
                update=False,
            )
        faults.point("transform.before_manifest")
        manifest = local_frame(
            spark,
            [
                (
                    k,
                    ingest_date_of(k),
                    *_key_parts(k),
                    expected[k],
                    per_object[k][0],
                    per_object[k][1],
                    transform_run,
                )
                for k in new
            ],
            PROCESSED.schema,
        )
        merge_upsert(
            spark,
            config.lake_path("silver", "_processed"),
            manifest,
            ["object_key"],
            prune=F.col("t.ingest_date").between(interval.start, interval.end),
            update=False,
        )
        progress.advance(len(new), "done")
    finally:
        payloads.unpersist()
        for frame in (classified, actions):
            if frame is not None:
                frame.unpersist()


def batch_profile(
    payloads: DataFrame, classified: DataFrame, actions: DataFrame | None = None
) -> tuple[dict[str, int], list[Row]]:
    """``({object_key: expected_rows}, per-(object, record, rule) rows)`` from one Spark job.

    Each group row carries ``record`` (``bar`` or ``action``), ``n`` (rows) and, over its
    MERGE winners, ``winners``, ``lo``/``hi`` (ts bounds) and ``symbols``. The expected
    rows travel in the same union as groups with ``expected`` set (one per payload,
    zero-bar objects included).
    """
    from pyspark.sql import functions as F

    winner = F.col("winner")
    groups = classified.groupBy("source_object", "rule").agg(
        F.lit("bar").alias("record"),
        F.count("*").alias("n"),
        F.count_if(winner).alias("winners"),
        F.min(F.when(winner, F.col("ts"))).alias("lo"),
        F.max(F.when(winner, F.col("ts"))).alias("hi"),
        F.min(F.when(winner, F.col("trade_date"))).alias("day_lo"),
        F.max(F.when(winner, F.col("trade_date"))).alias("day_hi"),
        F.collect_set(F.when(winner, F.col("symbol"))).alias("symbols"),
        F.lit(None).cast("long").alias("expected"),
    )
    if actions is not None:
        groups = groups.unionByName(
            actions.groupBy("source_object", "rule").agg(
                F.lit("action").alias("record"),
                F.count("*").alias("n"),
                F.count_if(winner).alias("winners"),
                F.lit(None).cast("timestamp").alias("lo"),
                F.lit(None).cast("timestamp").alias("hi"),
                F.lit(None).cast("date").alias("day_lo"),
                F.lit(None).cast("date").alias("day_hi"),
                F.array().cast("array<string>").alias("symbols"),
                F.lit(None).cast("long").alias("expected"),
            )
        )
    expected_rows = payloads.select(
        F.col("object_key").alias("source_object"),
        F.lit(None).cast("string").alias("rule"),
        F.lit(None).cast("string").alias("record"),
        F.lit(0).cast("long").alias("n"),
        F.lit(0).cast("long").alias("winners"),
        F.lit(None).cast("timestamp").alias("lo"),
        F.lit(None).cast("timestamp").alias("hi"),
        F.lit(None).cast("date").alias("day_lo"),
        F.lit(None).cast("date").alias("day_hi"),
        F.array().cast("array<string>").alias("symbols"),
        F.col("expected_rows").cast("long").alias("expected"),
    )
    expected: dict[str, int] = {}
    rows: list[Row] = []
    for row in groups.unionByName(expected_rows).collect():
        if row["expected"] is None:
            rows.append(row)
        else:
            expected[row["source_object"]] = int(row["expected"])
    return expected, rows


def merge_bounds(groups: list[Row]) -> dict[str, Any]:
    """MERGE pruning bounds of the winners: ts range, the months of their trade dates
    (silver/prices' partitions), symbol set and row count."""
    winning = [g for g in groups if g["winners"]]
    day_lo = min((g["day_lo"] for g in winning), default=None)
    day_hi = max((g["day_hi"] for g in winning), default=None)
    return {
        "n": sum(int(g["winners"]) for g in winning),
        "lo": min((g["lo"] for g in winning), default=None),
        "hi": max((g["hi"] for g in winning), default=None),
        "month_lo": day_lo.replace(day=1) if day_lo else None,
        "month_hi": day_hi.replace(day=1) if day_hi else None,
        "symbols": sorted({s for g in winning for s in g["symbols"]}),
    }


def _key_parts(key: str) -> tuple[str | None, str | None, str | None]:
    parts = dict(p.split("=", 1) for p in key.split("/") if "=" in p)
    return parts.get("source"), parts.get("symbol"), parts.get("interval")


def newer_fetch():
    """MERGE update condition: the incoming bar comes from a later fetch than the stored
    one (ties broken by object key), so processing order never matters."""
    from pyspark.sql import functions as F

    s_at, t_at = F.col("s.ingested_at"), F.col("t.ingested_at")
    return (
        (t_at.isNull() & s_at.isNotNull())
        | (s_at > t_at)
        | (s_at.eqNullSafe(t_at) & (F.col("s.source_object") > F.col("t.source_object")))
    )


def changed_action():
    """MERGE update condition for corporate actions: the reported value differs (a
    re-fetch reporting the same split or dividend again changes nothing)."""
    from medallion.common.delta import changed

    return changed(["numerator", "denominator", "ratio", "amount"])


def check_conservation(expected: dict[str, int], per_object: dict[str, list[int]]) -> None:
    """Every object: parsed rows == accepted + quarantined. Raises ConservationError."""
    broken = {
        key: (expected.get(key, 0), counts[0], counts[1])
        for key, counts in per_object.items()
        if expected.get(key, 0) != counts[0] + counts[1]
    }
    broken.update({k: (n, 0, 0) for k, n in expected.items() if k not in per_object and n})
    if broken:
        key, (n_in, ok, bad) = sorted(broken.items())[0]
        raise ConservationError(
            f"conservation violated for {len(broken)} bronze objects, e.g. {key}: "
            f"{n_in} rows parsed != {ok} accepted + {bad} quarantined"
        )
