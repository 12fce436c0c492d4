"""Publish job: gold/daily (Delta) -> PostgreSQL ``analytics`` table public.gold_daily.

What is sent: the gold rows changed since the version PostgreSQL last received
(``public.medallion_publish_state``, written in the same transaction as the rows),
read from gold's Change Data Feed. With no state, another gold table id, a state
ahead of the lake, or vacuumed CDF history, every gold row is sent (a full publish;
unchanged rows are still not rewritten). Re-running with nothing new sends nothing.

The ``interval`` argument is logged for lineage; the change set decides what moves.
A lost PostgreSQL connection is retried a bounded number of times (the transaction is
rolled back by the server, so a retry starts clean), then the stage exits with code 3
naming the server.
No Spark JDBC: rows stream to the driver (gold is one row per symbol and day) and are
COPYed by psycopg into a staging table, then upserted in one transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from medallion.common.config import Config
from medallion.common.delta import (
    is_delta_table,
    latest_version,
    read_changes,
    read_snapshot,
    table_id,
)
from medallion.common.intervals import Interval
from medallion.common.logs import log_summary

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

STAGE = "publish"
PUBLISH_ATTEMPTS = 3
RETRY_BASE_S = 1.0
GOLD_TABLE = "gold/daily"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class PublishResult:
    interval: str
    mode: str = "noop"  # noop | incremental | full
    gold_version: int | None = None
    rows_in: int = 0  # gold rows sent (staged)
    rows_out: int = 0  # rows inserted or changed in PostgreSQL
    ddl_files: tuple[str, ...] = ()
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "quarantined": 0,
            "seconds": round(self.seconds, 2),
            "interval": self.interval,
            "mode": self.mode,
            "gold_version": self.gold_version,
        }


def changed_rows(
    spark: SparkSession, gold_path: str, version: int, since: int | None
) -> tuple[DataFrame, str]:
    """Gold rows (snapshot ``version``) to publish: changed after ``since``, or all."""
    snapshot = read_snapshot(spark, gold_path, version)
    if since is not None:
        try:
            keys = (
                read_changes(spark, gold_path, since + 1, version)
                .where("_change_type IN ('insert', 'update_postimage')")
                .select("symbol", "trade_date")
                .distinct()
            )
            keys.limit(1).count()  # a vacuumed CDF range fails here
            return snapshot.join(keys, on=["symbol", "trade_date"], how="left_semi"), "incremental"
        except Exception as exc:  # noqa: BLE001 - any CDF failure falls back to full
            logger.warning(
                "gold change feed unreadable (%s): full publish", str(exc).splitlines()[0]
            )
    return snapshot, "full"


def to_python_rows(frame: DataFrame, columns: list[str]):
    """Stream rows to the driver; timestamps travel as epoch micros (no local-zone
    conversion in Python), decoded as aware UTC datetimes."""
    from pyspark.sql import functions as F

    cols = [F.unix_micros(F.col(c)).alias(c) if c == "updated_at" else F.col(c) for c in columns]
    micros_at = columns.index("updated_at") if "updated_at" in columns else -1
    for row in frame.select(*cols).orderBy("symbol", "trade_date").toLocalIterator():
        values = list(row)
        if micros_at >= 0 and values[micros_at] is not None:
            values[micros_at] = _EPOCH + timedelta(microseconds=values[micros_at])
        yield values


def run_publish(
    config: Config,
    interval: Interval,
    spark: SparkSession | None = None,
    full_refresh: bool = False,
    attempts: int = PUBLISH_ATTEMPTS,
) -> PublishResult:
    """Publish with bounded retries: a connection lost mid-transaction (PostgreSQL
    restarted, failed over) rolls the transaction back, and the whole publish (state
    read, change set, staging, upsert) is tried again; after ``attempts`` it raises
    :class:`ServerUnavailable` naming the server."""
    import psycopg

    from medallion.common.outage import ServerUnavailable, postgres_name

    dsn = config.require_analytics_dsn()
    started = time.monotonic()
    result = PublishResult(interval=str(interval))
    session: list[SparkSession] = [spark] if spark is not None else []
    try:
        for attempt in range(1, attempts + 1):
            try:
                _publish_once(config, interval, dsn, session, result, full_refresh)
                return result
            except psycopg.OperationalError as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                if attempt == attempts:
                    raise ServerUnavailable(
                        f"{postgres_name(dsn)} unavailable after {attempts} attempts: {detail}"
                    ) from exc
                logger.warning(
                    "publish attempt %d of %d failed (%s: %s); retrying",
                    attempt,
                    attempts,
                    postgres_name(dsn),
                    detail,
                )
                time.sleep(RETRY_BASE_S * 2 ** (attempt - 1))
        return result
    finally:
        result.seconds = time.monotonic() - started
        log_summary(logger, STAGE, **result.summary())
        if spark is None and session:
            session[0].stop()


def _publish_once(
    config: Config,
    interval: Interval,
    dsn: str,
    session: list[SparkSession],
    result: PublishResult,
    full_refresh: bool,
) -> None:
    import psycopg

    from medallion.aggregator.metrics import GOLD_COLUMNS
    from medallion.common.spark import build_spark_session
    from medallion.publisher import postgres

    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        result.ddl_files = tuple(postgres.apply_ddl(conn))
        if not session:
            session.append(build_spark_session(config, "medallion-publish", interval))
        spark = session[0]
        gold_path = config.lake_path("gold", "daily")
        if not is_delta_table(spark, gold_path):
            logger.info("no gold/daily table yet: nothing to publish")
            return
        version = latest_version(spark, gold_path)
        gold_id = table_id(spark, gold_path)
        result.gold_version = version
        state = postgres.read_state(conn)
        if state == (gold_id, version) and not full_refresh:
            logger.info("PostgreSQL already holds gold version %d", version)
            return
        since = None
        if not full_refresh and state is not None and state[0] == gold_id:
            since = state[1] if state[1] < version else None
        frame, result.mode = changed_rows(spark, gold_path, version, since)
        columns = list(GOLD_COLUMNS)
        result.rows_in, result.rows_out = postgres.publish(
            conn, columns, to_python_rows(frame, columns), (gold_id, version)
        )
