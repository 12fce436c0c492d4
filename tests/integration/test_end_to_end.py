"""The whole pipeline on real servers: fake Yahoo API (HTTP) → MinIO → Spark + Delta → PostgreSQL.

The API serves messy data on purpose (nulls inside the arrays, a duplicated last bar,
a delisted symbol, an HTML outage page before success). The test checks conservation
against its own count of the bars in the bronze JSON (parsed here, not by the job),
that reruns which really reprocess change nothing (the processed-objects manifest
lost; the same bars fetched again with identical content), that a refetch with one
bar changed moves that bar and what depends on it and nothing else, and that the next
day only adds. Runs are compared in the one canonical form of tests/canonical.py.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime

import psycopg
import pytest

from medallion.aggregator.job import run_aggregate
from medallion.common.config import load_config
from medallion.common.intervals import Interval
from medallion.common.storage import store_from_config
from medallion.ingestor.job import run_ingest
from medallion.publisher.job import run_publish
from medallion.transformer.job import run_transform
from medallion.transformer.testing import write_bronze
from tests.canonical import GOLD_FORM_COLUMNS, canonical, object_sha
from tests.fakes.market_api import FakeMarketApi, Fault

WEEK = Interval(date(2026, 3, 2), date(2026, 3, 7))  # Monday to Friday
NEXT_DAY = Interval.for_date(date(2026, 3, 9))
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


def bars_in_bronze(store, keys: list[str]) -> Counter:
    """Rows each bronze object must yield, counted here from the JSON itself: one per
    timestamp of a Yahoo chart result, one for a body that carries no bars (an error)."""
    counts: Counter = Counter()
    for key in keys:
        try:
            doc = json.loads(store.get(key))
            result = (doc.get("chart") or {}).get("result") or []
            stamps = result[0].get("timestamp") if result else None
        except (ValueError, AttributeError, IndexError):
            stamps = None
        counts[key] = len(stamps) if stamps else 1
    return counts


def rows_per_object(spark, config, table: str) -> Counter:
    rows = spark.read.format("delta").load(config.lake_path("silver", table))
    return Counter({r["source_object"]: r["n"] for r in rows.groupBy("source_object").count()
                    .withColumnRenamed("count", "n").collect()})


def drop_processed_manifest(store, config) -> None:
    """Lose silver/_processed (a restore from an older backup, a deleted table)."""
    for key in store.list("silver/_processed/"):
        store.client.delete_object(Bucket=store.bucket, Key=store.prefix + key)


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

    # Conservation, counted independently: the bars in the bronze JSON, object by object,
    # are the silver rows plus the quarantined rows that name that object.
    store = store_from_config(config)
    keys = bronze_objects(config)
    expected = bars_in_bronze(store, keys)
    accepted = rows_per_object(spark, config, "prices")
    quarantined = rows_per_object(spark, config, "quarantine")
    assert sum(expected.values()) > 0
    assert {k: accepted[k] + quarantined[k] for k in keys} == dict(expected)
    assert set(accepted) | set(quarantined) <= set(keys), "no row from an unknown object"

    before = canonical(spark, config, postgres_server.dsn)

    # 1. the processed-objects manifest is lost: every object is transformed again
    drop_processed_manifest(store, config)
    market_api.clear()
    market_api.inject(Fault("chart_error"), symbol="GONE", times=None)
    again = run_all(spark, config, WEEK)
    # Only the symbol that has never returned data is asked again; its answer is the
    # same error body, so nothing new lands in bronze.
    assert again[0].requests == 1 and again[0].objects_written == 0
    assert again[1].objects_new == 3, "the rerun really reprocessed every object"
    assert again[1].rows_in == sum(expected.values())
    assert canonical(spark, config, postgres_server.dsn).diff(before) == {}

    # 2. the same bars fetched again (watermarks lost), identical content: bronze keeps
    # one object per payload and nothing else moves
    for key in store.list("bronze/_state/"):
        store.client.delete_object(Bucket=store.bucket, Key=store.prefix + key)
    market_api.clear()
    market_api.inject(Fault("nulls"), symbol="AAPL")
    market_api.inject(Fault("dup_last"), symbol="MSFT")
    market_api.inject(Fault("chart_error"), symbol="GONE", times=None)
    refetch = run_all(spark, config, WEEK)
    assert refetch[0].requests == 3 and refetch[0].objects_written == 0
    assert refetch[0].duplicates_skipped == 3
    assert canonical(spark, config, postgres_server.dsn).diff(before) == {}

    # 3. a later fetch with one bar changed: that bar wins, and only it and the gold
    # rows computed from it (same symbol, that day on) move
    msft = next(k for k in keys if "symbol=MSFT/" in k)
    doc = json.loads(store.get(msft))
    chart = doc["chart"]["result"][0]
    quote = chart["indicators"]["quote"][0]
    day = 1
    chart["timestamp"] = [chart["timestamp"][day]]
    for name in quote:
        quote[name] = [quote[name][day]]
    quote["close"] = [round(quote["close"][0] * 1.05, 4)]
    quote["high"] = [max(quote["high"][0], quote["close"][0])]
    for extra in chart["indicators"].get("adjclose", []):
        extra["adjclose"] = [quote["close"][0]]
    changed_key = write_bronze(
        store, doc, symbol="MSFT", ingest_date=WEEK.start, run_id="late-refetch",
        fetched_at=datetime.now(UTC),  # later than the ingestor's own fetch
    )
    late = run_all(spark, config, WEEK)
    assert late[1].objects_new == 1 and late[1].rows_updated == 1
    after = canonical(spark, config, postgres_server.dsn)
    assert after.bronze - before.bronze == Counter({object_sha(changed_key): 1})
    assert after.quarantine == before.quarantine
    silver_moved = (after.silver - before.silver, before.silver - after.silver)
    assert [sum(c.values()) for c in silver_moved] == [1, 1], "exactly one bar replaced"
    (new_bar,) = silver_moved[0]
    assert new_bar[0] == "MSFT" and new_bar[-1] == object_sha(changed_key)
    changed_day = new_bar[3]
    gold_moved = (after.gold - before.gold) + (before.gold - after.gold)
    assert gold_moved, "gold follows the corrected bar"
    at = {name: i for i, name in enumerate(GOLD_FORM_COLUMNS)}
    moved_keys = {(row[at["symbol"]], row[at["trade_date"]]) for row in gold_moved}
    assert all(s == "MSFT" and d >= changed_day for s, d in moved_keys), moved_keys
    assert after.postgres == after.gold, "PostgreSQL holds exactly gold"

    run_all(spark, config, NEXT_DAY)
    with psycopg.connect(postgres_server.dsn) as conn:
        new_days = conn.execute(
            "SELECT DISTINCT trade_date FROM public.gold_daily WHERE trade_date >= %s",
            (NEXT_DAY.start,),
        ).fetchall()
        total = conn.execute("SELECT count(*) FROM public.gold_daily").fetchone()[0]
    assert new_days == [(NEXT_DAY.start,)]
    assert total == sum(d[3] for d in days) + 2
