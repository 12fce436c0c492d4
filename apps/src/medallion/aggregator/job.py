"""Gold job: silver/prices + silver/corporate_actions -> gold/daily, recomputing only
what silver changed.

Affected set: the silver Change Data Feed between the last silver version this job
consumed (kept in ``gold/_state``) and silver's current version V. Per affected
symbol, the days from its first affected date on are recomputed, reading from silver
only the affected days and from gold the look-back history (at most
``LOOKBACK_ROWS`` days) plus the unaffected later days. Only days >= the first
affected date are MERGEd, and a row is updated only if a value really changed, so
re-running with nothing new commits nothing (and the publisher sees no change).
With no state (first run), a different silver table id, or CDF history that was
vacuumed away, everything in silver is affected (a full recompute).

Restatement: gold is split-adjusted (see :mod:`medallion.aggregator.metrics`), so a
split or dividend that arrives after the bars it affects changes gold rows that silver's
prices did not. The corporate-actions Change Data Feed since the version recorded in
``gold/_state`` names the symbols whose actions changed; each is recomputed from its
first day, and the MERGE rewrites only the rows whose values changed: exactly the rows
that depend on the action. A symbol whose affected days precede one of its dividends is
recomputed from its first day too (the dividend factor reads the close before the
ex-date). The summary reports ``rows_restated`` and why (``restated``).

Migration: a gold table written before adjusted prices (it has no ``close_adj``) is
rewritten in place by the normal run: a full recompute replaces its rows and schema in
one commit (same table, readers never see it empty).

The ``interval`` argument scopes nothing here: what to recompute follows from what
silver changed (late corrections of old dates included); it is logged for lineage.

One writer per table at a time: the run holds the leases of gold/daily and gold/_state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
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

from medallion.aggregator.metrics import GOLD_COLUMNS
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
    table_is_empty,
    table_properties,
    version_and_emptiness,
)
from medallion.common.frames import empty_frame, local_frame
from medallion.common.intervals import Interval
from medallion.common.lease import fence, writer_lease
from medallion.common.logs import log_summary

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

STAGE = "aggregate"
_D = DoubleType()

_TYPES = {
    "symbol": StringType(),
    "trade_date": DateType(),
    "volume_raw": LongType(),
    "bar_count": IntegerType(),
    "updated_at": TimestampType(),
}

GOLD_DAILY = TableSpec(
    name="gold/daily",
    schema=StructType(
        [StructField(c, _TYPES.get(c, _D), c not in ("symbol", "trade_date")) for c in GOLD_COLUMNS]
    ),
    constraints={
        "gold_key": "symbol IS NOT NULL AND trade_date IS NOT NULL",
        "gold_adj_high_low": "high_adj >= low_adj",
        "gold_raw_high_low": "high_raw >= low_raw",
        "gold_volume": "volume_raw >= 0 AND volume_adj >= 0",
        "gold_split_factor": "split_factor > 0",
    },
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

# (symbol, trade_date) pairs to recompute, and each symbol's first recomputed day
DAYS = StructType([StructField("symbol", StringType()), StructField("trade_date", DateType())])
STARTS = StructType([StructField("symbol", StringType()), StructField("start", DateType())])

VALUE_COLUMNS = tuple(f.name for f in GOLD_DAILY.schema.fields[2:])


@dataclass
class AggregateResult:
    interval: str
    mode: str = "noop"  # noop | incremental | full | migrate
    silver_from_version: int | None = None
    silver_version: int | None = None
    symbols: int = 0
    rows_in: int = 0  # affected (symbol, trade_date) pairs from silver
    rows_out: int = 0  # gold rows inserted + updated
    rows_inserted: int = 0
    rows_updated: int = 0
    gold_version: int | None = None
    rows_restated: int = 0  # gold rows rewritten because a corporate action changed
    restated: dict[str, list[str]] = field(default_factory=dict)  # symbol -> why
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
            "rows_restated": self.rows_restated,
            "restated": self.restated,
        }


PRICES_TABLE = "silver/prices"
ACTIONS_TABLE = "silver/corporate_actions"


def _states(spark: SparkSession, path: str) -> dict[str, tuple[str, int]]:
    if table_is_empty(spark, path):  # a first run: the log says so, no Spark job
        return {}
    return {
        r["source_table"]: (r["source_table_id"], int(r["source_version"]))
        for r in read_snapshot(spark, path).collect()
    }


def ensure_gold(spark: SparkSession, path: str) -> bool:
    """Create gold/daily if missing; True when an existing table predates the current
    schema (no ``close_adj``...) and must be rewritten (the run then migrates it)."""
    if is_delta_table(spark, path):
        have = {f.name for f in read_snapshot(spark, path).schema.fields}
        if not set(GOLD_COLUMNS) <= have:
            # constraints on dropped columns would block the rewrite: drop the stale ones
            for key in table_properties(spark, path):
                name = key[len("delta.constraints.") :]
                if key.startswith("delta.constraints.") and name not in GOLD_DAILY.constraints:
                    spark.sql(f"ALTER TABLE delta.`{path}` DROP CONSTRAINT IF EXISTS {name}")
            logger.warning("gold/daily predates adjusted prices: it is rewritten by this run")
            return True
    ensure_table(spark, path, GOLD_DAILY)
    return False


def changed_actions(
    spark: SparkSession,
    path: str,
    state: tuple[str, int] | None,
    actions_id: str | None,
    version: int | None,
) -> dict[str, list[str]]:
    """Symbol -> the corporate actions that changed since ``state`` (what restates gold)."""
    from pyspark.sql import functions as F

    if version is None or (state is not None and state == (actions_id, version)):
        return {}
    frame = None
    if state is not None and state[0] == actions_id and state[1] < version:
        try:
            frame = read_changes(spark, path, state[1] + 1, version).where(
                "_change_type IN ('insert', 'update_postimage', 'delete')"
            )
            frame.limit(1).count()
        except Exception as exc:  # noqa: BLE001 - any CDF failure: every action counts
            logger.warning("corporate actions change feed unreadable (%s)", str(exc)[:200])
            frame = None
    if frame is None:
        frame = read_snapshot(spark, path, version)
    described = F.format_string(
        "%s %s %s",
        F.col("kind"),
        F.col("ex_date").cast("string"),
        F.when(F.col("kind") == "split", F.format_string("ratio %s", F.col("ratio"))).otherwise(
            F.format_string("amount %s", F.col("amount"))
        ),
    )
    out: dict[str, list[str]] = {}
    for row in frame.select("symbol", described.alias("what")).distinct().collect():
        out.setdefault(row["symbol"], []).append(row["what"])
    return {k: sorted(v) for k, v in sorted(out.items())}


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

    from medallion.aggregator.metrics import adjusted_bars, daily_bars, gold_rows
    from medallion.common.spark import build_spark_session
    from medallion.transformer.schemas import CORPORATE_ACTIONS

    started = time.monotonic()
    result = AggregateResult(interval=str(interval))
    own = spark is None
    spark = spark or build_spark_session(config, "medallion-aggregate", interval)
    silver_path = config.lake_path("silver", "prices")
    actions_path = config.lake_path("silver", "corporate_actions")
    gold_path = config.lake_path("gold", "daily")
    state_path = config.lake_path("gold", "_state")
    try:
        migrate = ensure_gold(spark, gold_path)
        ensure_table(spark, state_path, GOLD_STATE)
        if not is_delta_table(spark, silver_path):
            logger.info("no silver/prices table yet: nothing to aggregate")
            return result
        version = latest_version(spark, silver_path)
        silver_id = table_id(spark, silver_path)
        # the transformer owns (and creates) silver/corporate_actions; none yet = no actions
        has_actions = is_delta_table(spark, actions_path)
        actions_version, no_actions = (
            version_and_emptiness(spark, actions_path) if has_actions else (None, True)
        )
        actions_id = table_id(spark, actions_path) if has_actions else None
        states = _states(spark, state_path)
        state = states.get(PRICES_TABLE)
        result.silver_version = version
        new_states = [(PRICES_TABLE, silver_id, version, str(interval))]
        if has_actions:
            new_states.append((ACTIONS_TABLE, actions_id, actions_version, str(interval)))
        if (
            {k: states.get(k) for k in (PRICES_TABLE, ACTIONS_TABLE)}
            == {
                PRICES_TABLE: (silver_id, version),
                ACTIONS_TABLE: (actions_id, actions_version) if has_actions else None,
            }
            and not full_refresh
            and not migrate
        ):
            logger.info("gold is up to date with silver version %d", version)
            return result
        restated: dict[str, list[str]] = {}
        if not (no_actions and states.get(ACTIONS_TABLE) is None):  # else nothing to read
            restated = changed_actions(
                spark, actions_path, states.get(ACTIONS_TABLE), actions_id, actions_version
            )
        if state == (silver_id, version) and not (full_refresh or migrate):
            days = empty_frame(spark, DAYS)
            result.mode = "incremental"
        else:
            days, result.mode, result.silver_from_version = affected_days(
                spark, silver_path, state, silver_id, version, full_refresh or migrate
            )
        if migrate:
            result.mode = "migrate"
        # No corporate action at this version: an empty local frame, so the optimizer
        # drops the joins with it (and no Spark job reads the empty table).
        actions = (
            read_snapshot(spark, actions_path, actions_version)
            if not no_actions
            else empty_frame(spark, CORPORATE_ACTIONS.schema)
        )
        snapshot = read_snapshot(spark, silver_path, version)
        days = days.where(F.col("symbol").isNotNull() & F.col("trade_date").isNotNull())
        counted = _first_day_and_days(days)
        # symbols recomputed from their first day: actions changed, or an affected day
        # precedes one of their dividends
        last_dividend = (
            {}
            if no_actions
            else {
                r["symbol"]: r["last"]
                for r in actions.where("kind = 'dividend'")
                .groupBy("symbol")
                .agg(F.max("ex_date").alias("last"))
                .collect()
            }
        )
        whole = set(restated) | {
            r["symbol"]
            for r in counted
            if r["symbol"] in last_dividend and r["start"] < last_dividend[r["symbol"]]
        }
        if whole and result.mode != "full" and result.mode != "migrate":
            days = days.unionByName(
                snapshot.where(F.col("symbol").isin(sorted(whole))).select("symbol", "trade_date")
            ).distinct()
            counted = _first_day_and_days(days)
        result.symbols = len(counted)
        result.rows_in = sum(int(r["n"]) for r in counted)
        if counted:
            symbols = sorted(r["symbol"] for r in counted)
            first = min(r["start"] for r in counted)
            starts = local_frame(spark, [(r["symbol"], r["start"]) for r in counted], STARTS)
            silver = snapshot.where(
                F.col("symbol").isin(symbols) & (F.col("trade_date") >= F.lit(first))
            )
            if "trade_month" in snapshot.columns:  # partitioned (transform migrates it)
                silver = silver.where(F.col("trade_month") >= F.lit(first.replace(day=1)))
            if result.mode == "incremental":
                silver = silver.join(days, on=["symbol", "trade_date"], how="left_semi")
            symbol_actions = actions.where(F.col("symbol").isin(symbols))
            if migrate or table_is_empty(spark, gold_path):
                # Nothing to read back (a first load, or the rows are being replaced): an
                # empty local frame, so the optimizer drops the look-back joins and windows
                # over gold instead of planning and running them on an empty table.
                gold = empty_frame(spark, GOLD_DAILY.schema)
            else:
                gold = read_snapshot(spark, gold_path).where(F.col("symbol").isin(symbols))
            rows = gold_rows(
                daily_bars(adjusted_bars(silver, symbol_actions)), gold, starts, symbol_actions
            ).select(*GOLD_COLUMNS)
            if migrate:
                result.gold_version = rewrite_gold(spark, gold_path, rows)
                result.rows_inserted = result.rows_out = result.rows_in
            else:
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
                if restated and result.rows_updated:
                    result.rows_restated = count_updates(
                        spark, gold_path, result.gold_version, sorted(restated)
                    )
            if result.mode == "incremental":  # a first or full run restates nothing
                result.restated = {s: restated[s] for s in restated if s in symbols}
        if migrate and not counted:
            result.gold_version = rewrite_gold(
                spark, gold_path, empty_frame(spark, GOLD_DAILY.schema)
            )
        faults.point("aggregate.before_state")
        fence(state_path)
        # A state table with no row yet (a first run) has nothing to replace: an append
        # writes the same rows without the file list an overwrite must rebuild to remove
        # the old files (three Spark jobs, ~0.5 s in a fresh driver, measured).
        local_frame(spark, new_states, GOLD_STATE.schema).write.format("delta").mode(
            "overwrite" if states else "append"
        ).save(state_path)
        return result
    finally:
        result.seconds = time.monotonic() - started
        log_summary(logger, STAGE, **result.summary())
        if own:
            spark.stop()


def _first_day_and_days(days: DataFrame) -> list:
    """Per symbol of ``days``: its first day (``start``) and how many days (``n``)."""
    from pyspark.sql import functions as F

    return (
        days.groupBy("symbol")
        .agg(F.min("trade_date").alias("start"), F.count("*").alias("n"))
        .collect()
    )


def rewrite_gold(spark: SparkSession, path: str, rows: DataFrame) -> int:
    """Replace gold's rows and schema in one commit (the migration), then restore the
    current constraints. Same table id and history; readers see old or new, never empty."""
    from pyspark.sql import functions as F

    typed = rows.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in GOLD_DAILY.schema])
    fence(path)  # a writer that lost gold's lease must not commit
    typed.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    ensure_table(spark, path, GOLD_DAILY)
    return latest_version(spark, path)


def count_updates(spark: SparkSession, path: str, version: int, symbols: list[str]) -> int:
    """Rows of ``symbols`` the commit ``version`` updated (from the Change Data Feed)."""
    from pyspark.sql import functions as F

    return (
        read_changes(spark, path, version, version)
        .where((F.col("_change_type") == "update_postimage") & F.col("symbol").isin(symbols))
        .count()
    )
