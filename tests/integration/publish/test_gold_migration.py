"""An existing lake and database from before adjusted prices are migrated in place by the
normal run, idempotently: gold/daily keeps its table id, PostgreSQL keeps its table."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
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

from medallion.aggregator.job import run_aggregate
from medallion.aggregator.metrics import GOLD_COLUMNS
from medallion.common.config import load_config
from medallion.common.delta import table_id
from medallion.common.intervals import Interval
from medallion.common.storage import store_from_config
from medallion.publisher.job import run_publish
from medallion.transformer.job import run_transform
from medallion.transformer.schemas import QUARANTINE
from medallion.transformer.testing import write_bronze, yahoo_body

D1 = date(2024, 1, 2)
BASE = 1704205800
CLOSES = [10.0, 11.0, 12.0]

# gold/daily and public.gold_daily as the previous release created them
OLD_GOLD = StructType(
    [StructField("symbol", StringType(), False), StructField("trade_date", DateType(), False)]
    + [StructField(c, DoubleType()) for c in ("open", "high", "low", "close", "adj_close")]
    + [StructField("volume", LongType())]
    + [StructField(c, DoubleType()) for c in (
        "vwap", "return_simple", "return_log", "sma_20", "sma_50", "sma_200", "volatility_20d",
        "drawdown", "high_52w", "low_52w")]
    + [StructField("bar_count", IntegerType()), StructField("updated_at", TimestampType())]
)
OLD_DDL = """
CREATE TABLE public.gold_daily (
    symbol text NOT NULL, trade_date date NOT NULL, open double precision,
    high double precision, low double precision, close double precision,
    adj_close double precision, volume bigint, vwap double precision,
    return_simple double precision, return_log double precision, sma_20 double precision,
    sma_50 double precision, sma_200 double precision, volatility_20d double precision,
    drawdown double precision, high_52w double precision, low_52w double precision,
    bar_count integer, updated_at timestamptz, PRIMARY KEY (symbol, trade_date));
CREATE TABLE public.medallion_publish_state (
    table_name text PRIMARY KEY, delta_table_id text NOT NULL, delta_version bigint NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now());
"""


def old_lake(spark, config) -> str:
    """gold/daily with the old schema, constraints and one row; the old quarantine schema."""
    gold_path = config.lake_path("gold", "daily")
    row = ("AAPL", D1, 10.0, 11.0, 9.0, 10.0, 10.0, 100) + (None,) * 10 + (1, None)
    spark.createDataFrame([row], OLD_GOLD).write.format("delta").save(gold_path)
    spark.sql(f"ALTER TABLE delta.`{gold_path}` ADD CONSTRAINT gold_high_low CHECK (high >= low)")
    old_quarantine = StructType([f for f in QUARANTINE.schema.fields if f.name != "record"])
    spark.createDataFrame([], old_quarantine).write.format("delta").save(
        config.lake_path("silver", "quarantine"))
    return table_id(spark, gold_path)


def pg_columns(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'gold_daily' ORDER BY ordinal_position").fetchall()]


def test_old_lake_and_database_are_migrated_in_place(spark, tmp_path, postgres_server):
    dsn = postgres_server.dsn
    config = load_config({"LAKE_ROOT": str(tmp_path), "WATCHLIST": "AAPL", "ANALYTICS_DSN": dsn})
    write_bronze(store_from_config(config),
                 yahoo_body("AAPL", [BASE + 86400 * i for i in range(3)], CLOSES,
                            [c + 1 for c in CLOSES], [c - 1 for c in CLOSES], CLOSES,
                            [100, 200, 300]),
                 symbol="AAPL", ingest_date=D1)
    gold_id = old_lake(spark, config)
    with psycopg.connect(dsn) as conn:
        conn.execute(OLD_DDL)
        conn.execute("INSERT INTO public.gold_daily (symbol, trade_date, close, adj_close) "
                     "VALUES ('AAPL', %s, 10.0, 10.0)", (D1,))
        conn.execute("INSERT INTO public.medallion_publish_state VALUES ('gold/daily', %s, 0, "
                     "%s)", (gold_id, datetime(2024, 1, 3, tzinfo=UTC)))

    interval = Interval.for_date(D1)
    silver = run_transform(config, interval, spark=spark)
    assert silver.rows_out == 3
    quarantine = spark.read.format("delta").load(config.lake_path("silver", "quarantine"))
    assert "record" in quarantine.columns  # additive change applied in place

    aggregate = run_aggregate(config, interval, spark=spark)
    assert (aggregate.mode, aggregate.rows_out) == ("migrate", 3)
    gold_path = config.lake_path("gold", "daily")
    gold = spark.read.format("delta").load(gold_path)
    assert gold.columns == list(GOLD_COLUMNS) and table_id(spark, gold_path) == gold_id
    assert sorted(r["close_adj"] for r in gold.collect()) == CLOSES

    publish = run_publish(config, interval, spark=spark)
    assert (publish.mode, publish.rows_in, publish.rows_out) == ("full", 3, 3)
    with psycopg.connect(dsn) as conn:
        columns = pg_columns(conn)
        rows = conn.execute("SELECT trade_date, close_raw, close_adj, close_tr, volume_raw "
                            "FROM public.gold_daily ORDER BY trade_date").fetchall()
    assert not {"open", "high", "low", "close", "adj_close", "volume"} & set(columns)
    assert set(GOLD_COLUMNS) <= set(columns)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        (c, c, c, v) for c, v in zip(CLOSES, [100, 200, 300], strict=True)]

    # idempotent: the next run migrates nothing and changes nothing
    assert run_aggregate(config, interval, spark=spark).mode == "noop"
    again = run_publish(config, interval, spark=spark)
    assert (again.mode, again.rows_out) == ("noop", 0)
    with psycopg.connect(dsn) as conn:
        assert pg_columns(conn) == columns
