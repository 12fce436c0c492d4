"""The whole pipeline on real servers: fake Yahoo API (HTTP) → MinIO → Spark + Delta → PostgreSQL.

The API serves messy data on purpose (nulls inside the arrays, a duplicated last bar,
a delisted symbol, an HTML outage page before success). The test checks conservation
(bronze rows = silver rows + quarantined rows), that a rerun of the same interval
changes nothing anywhere (canonical content hashes), and that the next day only adds.
"""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from medallion.aggregator.job import run_aggregate
from medallion.common.config import load_config
from medallion.common.intervals import Interval
from medallion.common.storage import store_from_config
from medallion.ingestor.job import run_ingest
from medallion.publisher.job import run_publish
from medallion.transformer.job import run_transform
from medallion.transformer.testing import content_hash
from tests.fakes.market_api import FakeMarketApi, Fault

WEEK = Interval(date(2026, 3, 2), date(2026, 3, 7))  # Monday to Friday
NEXT_DAY = Interval.for_date(date(2026, 3, 9))
# Only real bar columns: lineage columns legitimately name the run that wrote them.
SILVER_COLUMNS = [
    "symbol",
    "interval",
    "ts",
    "trade_date",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
]


def no_sleep(_seconds: float) -> None:
    """Backoff is exercised, not waited for."""


def bronze_objects(config) -> list[str]:
    return [
        k
        for k in store_from_config(config).list("bronze/source=")
        if k.endswith(".json") and not k.endswith(".meta.json")
    ]


def run_all(spark, config, interval):
    ingest = run_ingest(config, interval, sleep=no_sleep)
    silver = run_transform(config, interval, spark=spark)
    gold = run_aggregate(config, interval, spark=spark)
    publish = run_publish(config, interval, spark=spark)
    return ingest, silver, gold, publish


def snapshot(spark, config, dsn) -> dict[str, str]:
    silver = spark.read.format("delta").load(config.lake_path("silver", "prices"))
    quarantine = spark.read.format("delta").load(config.lake_path("silver", "quarantine"))
    gold = spark.read.format("delta").load(config.lake_path("gold", "daily"))
    with psycopg.connect(dsn) as conn:
        published = conn.execute("SELECT * FROM public.gold_daily").fetchall()
    return {
        "bronze": content_hash([(k,) for k in bronze_objects(config)]),
        "silver": content_hash(silver.select(*SILVER_COLUMNS).collect()),
        "quarantine": content_hash(quarantine.drop("quarantined_at").collect()),
        "gold": content_hash(gold.collect()),
        "postgres": content_hash(published),
    }


@pytest.fixture
def market_api():
    with FakeMarketApi(seed=7, bars_per_day=1) as api:
        yield api


def test_messy_week_end_to_end_then_rerun_then_next_day(s3_spark, postgres_server, market_api):
    spark, s3_env = s3_spark
    config = load_config(
        {
            **s3_env,
            "ANALYTICS_DSN": postgres_server.dsn,
            "MARKET_SOURCE": "yahoo",
            "YAHOO_BASE_URL": market_api.base_url,
            "WATCHLIST": "AAPL,MSFT,GONE",
            "HTTP_RATE_PER_S": "50",
        }
    )
    market_api.inject(Fault("html", status=503), symbol="AAPL")  # retried, then served
    market_api.inject(Fault("nulls"), symbol="AAPL")
    market_api.inject(Fault("dup_last"), symbol="MSFT")
    market_api.inject(Fault("chart_error"), symbol="GONE", times=None)

    ingest, silver, gold, publish = run_all(spark, config, WEEK)

    assert ingest.objects_written == 3, "one payload per symbol, the error body included"
    assert ingest.errors_by_kind.get("chart_error") == 1
    # Conservation: every parsed bar is either in silver or quarantined, with a reason.
    assert silver.rows_in == silver.rows_out + silver.quarantined
    assert silver.quarantine_by_rule.get("error_payload") == 1
    assert silver.quarantine_by_rule.get("duplicate_timestamp", 0) >= 1
    assert sum(silver.quarantine_by_rule.values()) == silver.quarantined
    prices = spark.read.format("delta").load(config.lake_path("silver", "prices"))
    assert prices.count() == silver.rows_merged
    assert {r["symbol"] for r in prices.select("symbol").distinct().collect()} == {"AAPL", "MSFT"}
    assert gold.rows_out > 0 and publish.rows_out == gold.rows_out

    with psycopg.connect(postgres_server.dsn) as conn:
        days = conn.execute(
            "SELECT symbol, min(trade_date), max(trade_date), count(*) FROM public.gold_daily "
            "GROUP BY symbol ORDER BY symbol"
        ).fetchall()
    assert [d[0] for d in days] == ["AAPL", "MSFT"]
    for _symbol, first, last, count in days:
        assert WEEK.start <= first <= last < WEEK.end and count <= 5

    before = snapshot(spark, config, postgres_server.dsn)
    market_api.clear()
    market_api.inject(Fault("chart_error"), symbol="GONE", times=None)
    again = run_all(spark, config, WEEK)
    # Only the symbol that has never returned data is asked again; its answer is the
    # same error body, so nothing new lands in bronze.
    assert again[0].requests == 1 and again[0].objects_written == 0
    assert again[1].objects_new == 0
    assert snapshot(spark, config, postgres_server.dsn) == before, "a rerun changes nothing"

    run_all(spark, config, NEXT_DAY)
    with psycopg.connect(postgres_server.dsn) as conn:
        new_days = conn.execute(
            "SELECT DISTINCT trade_date FROM public.gold_daily WHERE trade_date >= %s",
            (NEXT_DAY.start,),
        ).fetchall()
        total = conn.execute("SELECT count(*) FROM public.gold_daily").fetchone()[0]
    assert new_days == [(NEXT_DAY.start,)]
    assert total == sum(d[3] for d in days) + 2
