"""Gold job: silver/prices -> gold/daily, recomputing only what silver changed.

Affected set: the silver Change Data Feed between the last silver version this job
consumed (kept in ``gold/_state``) and silver's current version V. Per affected
symbol, the days from its first affected date on are recomputed, reading from silver
only the affected days and from gold the look-back history (at most
``LOOKBACK_ROWS`` days) plus the unaffected later days. Only days >= the first
affected date are MERGEd, and a row is updated only if a value really changed, so
re-running with nothing new commits nothing (and the publisher sees no change).
With no state (first run), a different silver table id, or CDF history that was
vacuumed away, everything in silver is affected (a full recompute).

The ``interval`` argument scopes nothing here: what to recompute follows from what
silver changed (late corrections of old dates included); it is logged for lineage.

One writer per table at a time: the run holds the leases of gold/daily and gold/_state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from medallion.common import faults
from medallion.common.config import Config
from medallion.common.delta import (
    TableSpec,
    changed,
    ensure_table,
    is_delta_table,
    latest_version,
    merge_upsert,
    read_changes,
    read_snapshot,
    table_id,
)
from medallion.common.intervals import Interval
from medallion.common.lease import fence, writer_lease
from medallion.common.logs import log_summary

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

STAGE = "aggregate"
_D = DoubleType()

GOLD_DAILY = TableSpec(
    name="gold/daily",
    schema=StructType(
        [
            StructField("symbol", StringType(), False),
            StructField("trade_date", DateType(), False),
            *[StructField(c, _D) for c in ("open", "high", "low", "close", "adj_close")],
            StructField("volume", LongType()),
            *[
                StructField(c, _D)
                for c in (
                    "vwap",
                    "return_simple",
                    "return_log",
                    "sma_20",
                    "sma_50",
                    "sma_200",
                    "volatility_20d",
                    "drawdown",
                    "high_52w",
                    "low_52w",
                )
            ],
            StructField("bar_count", IntegerType()),
            StructField("updated_at", TimestampType()),
        ]
    ),
    constraints={"gold_high_low": "high >= low", "gold_volume": "volume >= 0"},
    # The publisher reads what changed since its last publish from the Change Data Feed.
    properties={"delta.enableChangeDataFeed": "true"},
)

GOLD_STATE = TableSpec(
    name="gold/_state",
    schema=StructType(
        [
            StructField("source_table", StringType(), False),
            StructField("source_table_id", StringType(), False),
            StructField("source_version", LongType(), False),
            StructField("interval", StringType()),
        ]
    ),
)

VALUE_COLUMNS = tuple(f.name for f in GOLD_DAILY.schema.fields[2:])


@dataclass
class AggregateResult:
    interval: str
    mode: str = "noop"  # noop | incremental | full
    silver_from_version: int | None = None
    silver_version: int | None = None
    symbols: int = 0
    rows_in: int = 0  # affected (symbol, trade_date) pairs from silver
    rows_out: int = 0  # gold rows inserted + updated
    rows_inserted: int = 0
    rows_updated: int = 0
    gold_version: int | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "quarantined": 0,
            "seconds": round(self.seconds, 2),
            "interval": self.interval,
            "mode": self.mode,
            "silver_version": self.silver_version,
            "symbols": self.symbols,
            "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated,
        }


def _state(spark: SparkSession, path: str) -> tuple[str, int] | None:
    rows = read_snapshot(spark, path).where("source_table = 'silver/prices'").collect()
    return (rows[0]["source_table_id"], int(rows[0]["source_version"])) if rows else None


def affected_days(
    spark: SparkSession,
    silver_path: str,
    state: tuple[str, int] | None,
    silver_id: str,
    version: int,
    full: bool,
) -> tuple[DataFrame, str, int | None]:
    """(symbol, trade_date) pairs to recompute, the mode, and the first CDF version."""
    from pyspark.sql import functions as F

    if not full and state is not None and state[0] == silver_id and state[1] < version:
        try:
            changes = read_changes(spark, silver_path, state[1] + 1, version)
            days = changes.select("symbol", "trade_date").distinct()
            days.limit(1).count()  # surface a vacuumed CDF range here, not later
            return days, "incremental", state[1] + 1
        except Exception as exc:  # noqa: BLE001 - any CDF failure falls back to full
            logger.warning(
                "silver change feed %d..%d unreadable (%s): full recompute",
                state[1] + 1,
                version,
                str(exc).splitlines()[0],
            )
    days = read_snapshot(spark, silver_path, version).select("symbol", "trade_date").distinct()
    return days.where(F.col("trade_date").isNotNull()), "full", None


@writer_lease(STAGE, "gold/daily", "gold/_state")
def run_aggregate(
    config: Config,
    interval: Interval,
    spark: SparkSession | None = None,
    full_refresh: bool = False,
) -> AggregateResult:
    from pyspark.sql import functions as F

    from medallion.aggregator.metrics import GOLD_COLUMNS, daily_bars, gold_rows
    from medallion.common.spark import build_spark_session

    started = time.monotonic()
    result = AggregateResult(interval=str(interval))
    own = spark is None
    spark = spark or build_spark_session(config, app_name="medallion-aggregate")
    silver_path = config.lake_path("silver", "prices")
    gold_path = config.lake_path("gold", "daily")
    state_path = config.lake_path("gold", "_state")
    try:
        ensure_table(spark, gold_path, GOLD_DAILY)
        ensure_table(spark, state_path, GOLD_STATE)
        if not is_delta_table(spark, silver_path):
            logger.info("no silver/prices table yet: nothing to aggregate")
            return result
        version = latest_version(spark, silver_path)
        silver_id = table_id(spark, silver_path)
        state = _state(spark, state_path)
        result.silver_version = version
        if state == (silver_id, version) and not full_refresh:
            logger.info("gold is up to date with silver version %d", version)
            return result
        days, result.mode, result.silver_from_version = affected_days(
            spark, silver_path, state, silver_id, version, full_refresh
        )
        days = days.where(F.col("symbol").isNotNull() & F.col("trade_date").isNotNull())
        starts_rows = (
            days.groupBy("symbol")
            .agg(F.min("trade_date").alias("start"), F.count("*").alias("n"))
            .collect()
        )
        result.symbols = len(starts_rows)
        result.rows_in = sum(int(r["n"]) for r in starts_rows)
        if starts_rows:
            symbols = sorted(r["symbol"] for r in starts_rows)
            first = min(r["start"] for r in starts_rows)
            starts = spark.createDataFrame(
                [(r["symbol"], r["start"]) for r in starts_rows], "symbol string, start date"
            )
            silver = read_snapshot(spark, silver_path, version).where(
                F.col("symbol").isin(symbols) & (F.col("trade_date") >= F.lit(first))
            )
            if result.mode == "incremental":
                silver = silver.join(days, on=["symbol", "trade_date"], how="left_semi")
            gold = read_snapshot(spark, gold_path).where(F.col("symbol").isin(symbols))
            rows = gold_rows(daily_bars(silver), gold, starts).select(*GOLD_COLUMNS)
            metrics = merge_upsert(
                spark,
                gold_path,
                rows,
                ["symbol", "trade_date"],
                prune=F.col("t.symbol").isin(symbols) & (F.col("t.trade_date") >= F.lit(first)),
                update_when=changed(VALUE_COLUMNS),
            )
            result.rows_inserted = metrics.get("numTargetRowsInserted", 0)
            result.rows_updated = metrics.get("numTargetRowsUpdated", 0)
            result.rows_out = result.rows_inserted + result.rows_updated
            result.gold_version = metrics["version"]
        faults.point("aggregate.before_state")
        fence(state_path)
        spark.createDataFrame(
            [("silver/prices", silver_id, version, str(interval))], GOLD_STATE.schema
        ).write.format("delta").mode("overwrite").save(state_path)
        return result
    finally:
        result.seconds = time.monotonic() - started
        log_summary(logger, STAGE, **result.summary())
        if own:
            spark.stop()
