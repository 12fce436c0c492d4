"""Publish gold to a real PostgreSQL: atomic upsert, idempotent, readers never see a gap.

Atomicity is checked on values, not counts: the change under test updates existing
keys, and a failure is injected inside the publish transaction.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from medallion.aggregator.job import run_aggregate
from medallion.common import faults
from medallion.common.config import ConfigError, load_config
from medallion.common.intervals import Interval
from medallion.common.storage import store_from_config
from medallion.publisher.job import run_publish
from medallion.transformer.job import run_transform
from medallion.transformer.testing import content_hash, write_bronze, yahoo_body

D1 = date(2024, 1, 2)
BASE = 1704205800
N = 30


def pg_rows(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT * FROM public.gold_daily ORDER BY symbol, trade_date").fetchall()


VALUE_COLUMNS = "symbol, trade_date, close_adj, high_adj, volume_adj, sma_20, drawdown, return_simple"


def pg_values(dsn, conn=None):
    """{(symbol, trade_date): values} of every published row."""
    if conn is None:
        with psycopg.connect(dsn) as own:
            return pg_values(dsn, own)
    rows = conn.execute(f"SELECT {VALUE_COLUMNS} FROM public.gold_daily").fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def gold_values(spark, config):
    rows = spark.read.format("delta").load(config.lake_path("gold", "daily")).collect()
    names = [c.strip() for c in VALUE_COLUMNS.split(",")]
    return {(r["symbol"], r["trade_date"]): tuple(r[c] for c in names[2:]) for r in rows}


def publish_state(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT * FROM public.medallion_publish_state").fetchall()


def pipeline(spark, config, interval):
    run_transform(config, interval, spark=spark)
    run_aggregate(config, interval, spark=spark)
    return run_publish(config, interval, spark=spark)


def test_publish_is_atomic_idempotent_and_incremental(spark, tmp_path, postgres_server):
    dsn = postgres_server.dsn
    config = load_config({"LAKE_ROOT": str(tmp_path), "WATCHLIST": "AAPL,MSFT",
                          "ANALYTICS_DSN": dsn})
    store = store_from_config(config)
    stamps = [BASE + 86400 * i for i in range(N)]
    closes = [100.0 + i for i in range(N)]
    for symbol in ("AAPL", "MSFT"):
        write_bronze(store, yahoo_body(symbol, stamps, closes, [c + 1 for c in closes],
                                       [c - 1 for c in closes], closes, [1000] * N),
                     symbol=symbol, ingest_date=D1)
    first = pipeline(spark, config, Interval.for_date(D1))
    assert (first.mode, first.rows_in, first.rows_out) == ("full", 2 * N, 2 * N)
    rows = pg_rows(dsn)
    assert len(rows) == 2 * N
    gold = {(r["symbol"], r["trade_date"]): r for r in spark.read.format("delta").load(
        config.lake_path("gold", "daily")).collect()}
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT symbol, trade_date, close_adj, sma_20, updated_at, volume_raw "
                           "FROM public.gold_daily WHERE symbol = 'AAPL' AND trade_date = %s",
                           (D1 + timedelta(days=25),))
        symbol, day, close, sma_20, updated_at, volume = cur.fetchone()
    assert close == gold[(symbol, day)]["close_adj"] and sma_20 == gold[(symbol, day)]["sma_20"]
    assert volume == 1000 and sma_20 == sum(closes[6:26]) / 20
    assert updated_at == datetime(2024, 1, 2, tzinfo=UTC)  # fetched_at of the bronze object
    pg_hash = content_hash(rows)

    again = pipeline(spark, config, Interval.for_date(D1))
    assert (again.mode, again.rows_in, again.rows_out) == ("noop", 0, 0)
    assert content_hash(pg_rows(dsn)) == pg_hash

    # a corrected bar, published while readers look at the VALUES: before the publish,
    # inside its transaction (upsert done, not committed), after a failure injected
    # there, and after the commit, a reader sees either every old value or every new one
    write_bronze(store, yahoo_body("AAPL", [stamps[10]], [110.0], [140.0], [109.0], [139.0],
                                   [5000]),
                 symbol="AAPL", ingest_date=D1 + timedelta(days=1),
                 fetched_at=datetime(2024, 1, 3, 22, 0, tzinfo=UTC))
    run_transform(config, Interval.for_date(D1 + timedelta(days=1)), spark=spark)
    run_aggregate(config, Interval.for_date(D1 + timedelta(days=1)), spark=spark)
    old = pg_values(dsn)
    new = gold_values(spark, config)
    moved = {k for k in new if new[k] != old.get(k)}
    assert len(moved) == N - 10, "AAPL days 11..30 change (close, SMA, drawdown)"
    state_before = publish_state(dsn)

    seen: list[dict] = []
    during: list[dict] = []
    stop = threading.Event()

    def reader():
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not stop.is_set():
                seen.append(pg_values(dsn, conn))

    def look_then_fail():
        during.append(pg_values(dsn))
        raise RuntimeError("injected failure inside the publish transaction")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with faults.on("publish.before_commit", look_then_fail), pytest.raises(
            RuntimeError, match="injected failure"
        ):
            run_publish(config, Interval.for_date(D1 + timedelta(days=1)), spark=spark)
        assert pg_values(dsn) == old and publish_state(dsn) == state_before
        with faults.on("publish.before_commit", lambda: during.append(pg_values(dsn))):
            third = run_publish(config, Interval.for_date(D1 + timedelta(days=1)), spark=spark)
    finally:
        stop.set()
        thread.join()
    assert during == [old, old], "inside the transaction other sessions see the old values"
    assert pg_values(dsn) == new
    assert seen and all(snapshot in (old, new) for snapshot in seen), "never a mix"
    assert third.mode == "incremental"
    assert third.rows_in == third.rows_out == N - 10  # AAPL days 11..30: drawdown/SMA moved
    with psycopg.connect(dsn) as conn:
        close, state = conn.execute(
            "SELECT g.close_adj, s.delta_version FROM public.gold_daily g, "
            "public.medallion_publish_state s WHERE g.symbol = 'AAPL' AND g.trade_date = %s",
            (D1 + timedelta(days=10),)).fetchone()
    assert close == 139.0 and state == third.gold_version

    # a full re-publish sends every row but rewrites none
    full = run_publish(config, Interval.for_date(D1), spark=spark, full_refresh=True)
    assert (full.mode, full.rows_in, full.rows_out) == ("full", 2 * N, 0)


def test_publish_without_dsn_names_the_variable(tmp_path):
    config = load_config({"LAKE_ROOT": str(tmp_path)})
    with pytest.raises(ConfigError, match="ANALYTICS_DSN"):
        run_publish(config, Interval.for_date(D1))
