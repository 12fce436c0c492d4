"""Gold metrics on small inline frames with hand-computed values."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta

from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from medallion.aggregator.metrics import (
    DAILY_COLUMNS,
    GOLD_COLUMNS,
    daily_bars,
    gold_rows,
    with_metrics,
)

SILVER = (
    "symbol string, interval string, ts timestamp, trade_date date, open double, high double, "
    "low double, close double, adj_close double, volume bigint, ingested_at timestamp"
)
DAILY = (
    "symbol string, trade_date date, open double, high double, low double, close double, "
    "adj_close double, volume bigint, vwap double, bar_count int, updated_at timestamp"
)
D0 = date(2024, 1, 1)
AT = datetime(2024, 1, 2, 0, 0)


def daily_frame(spark, closes, symbol="AAPL", adj=None, start=D0):
    rows = []
    for i, c in enumerate(closes):
        a = None if adj is None else adj[i]
        rows.append((symbol, start + timedelta(days=i), c, c + 1, c - 1, c, a, 100, c, 1, AT))
    return spark.createDataFrame(rows, DAILY)


def test_daily_from_intraday_with_hand_computed_vwap(spark):
    d = date(2024, 1, 2)
    silver = spark.createDataFrame(
        [
            # 1m bars: typical 10 * 100 + 12 * 300 = 4600 over volume 400 -> vwap 11.5;
            # the last bar has no volume: it sets close/high but is skipped by the vwap.
            ("AAPL", "1m", datetime(2024, 1, 2, 14, 31), d, 9.5, 11.0, 9.0, 10.0, None, 100, AT),
            ("AAPL", "1m", datetime(2024, 1, 2, 14, 30), d, 9.0, 13.0, 11.0, 12.0, None, 300, AT),
            ("AAPL", "1m", datetime(2024, 1, 2, 14, 32), d, 10.0, 20.0, 10.0, 15.0, None, 0,
             datetime(2024, 1, 3)),
            # a 1d bar of the same day is ignored: intraday bars are present
            ("AAPL", "1d", datetime(2024, 1, 2, 14, 30), d, 1.0, 99.0, 1.0, 50.0, 50.0, 9999, AT),
            # another day with only a daily bar
            ("AAPL", "1d", datetime(2024, 1, 3, 14, 30), date(2024, 1, 3), 15.0, 16.0, 14.0, 15.5,
             15.4, 1000, AT),
        ],
        SILVER,
    )
    assertDataFrameEqual(
        daily_bars(silver),
        [
            Row(symbol="AAPL", trade_date=d, open=9.0, high=20.0, low=9.0, close=15.0,
                adj_close=None, volume=400, vwap=11.5, bar_count=3,
                updated_at=datetime(2024, 1, 3)),
            Row(symbol="AAPL", trade_date=date(2024, 1, 3), open=15.0, high=16.0, low=14.0,
                close=15.5, adj_close=15.4, volume=1000, vwap=(16.0 + 14.0 + 15.5) / 3,
                bar_count=1, updated_at=AT),
        ],
    )


def test_vwap_null_without_volume(spark):
    silver = spark.createDataFrame(
        [("^GSPC", "1d", datetime(2024, 1, 2, 14, 30), D0, 1.0, 2.0, 0.5, 1.5, None, 0, AT)],
        SILVER,
    )
    assert daily_bars(silver).first()["vwap"] is None


def test_sma_is_null_until_the_window_is_full(spark):
    closes = [float(i) for i in range(1, 22)]  # 1..21
    got = with_metrics(daily_frame(spark, closes)).select("trade_date", "sma_20", "sma_50")
    expected = [Row(trade_date=D0 + timedelta(days=i), sma_20=None, sma_50=None)
                for i in range(19)]
    expected += [Row(trade_date=D0 + timedelta(days=19), sma_20=10.5, sma_50=None),
                 Row(trade_date=D0 + timedelta(days=20), sma_20=11.5, sma_50=None)]
    assertDataFrameEqual(got, expected)


def test_returns_use_adj_close_and_drawdown(spark):
    frame = daily_frame(spark, [10.0, 12.0, 9.0], adj=[5.0, 5.5, None])
    got = with_metrics(frame).select("trade_date", "return_simple", "return_log", "drawdown",
                                     "high_52w", "low_52w")
    assertDataFrameEqual(
        got,
        [
            Row(trade_date=D0, return_simple=None, return_log=None, drawdown=0.0,
                high_52w=11.0, low_52w=9.0),
            Row(trade_date=D0 + timedelta(days=1), return_simple=0.1,
                return_log=math.log(1.1), drawdown=0.0, high_52w=13.0, low_52w=9.0),
            # adj_close missing: the close (9) is compared with the previous adj (5.5)
            Row(trade_date=D0 + timedelta(days=2), return_simple=9.0 / 5.5 - 1,
                return_log=math.log(9.0 / 5.5), drawdown=-0.25, high_52w=13.0, low_52w=8.0),
        ],
    )


def test_drawdown_uses_the_seed_from_earlier_history(spark):
    frame = daily_frame(spark, [10.0, 12.0, 9.0]).withColumn("seed_max", F.lit(15.0))
    got = with_metrics(frame).select("trade_date", "drawdown")
    assertDataFrameEqual(
        got,
        [Row(trade_date=D0 + timedelta(days=i), drawdown=c / 15.0 - 1)
         for i, c in enumerate([10.0, 12.0, 9.0])],
    )


def test_volatility_20d(spark):
    closes = [100.0 * (1.01 if i % 2 else 0.995) ** i for i in range(22)]
    logs = [math.log(closes[i] / closes[i - 1]) for i in range(1, 22)]
    got = with_metrics(daily_frame(spark, closes)).select("trade_date", "volatility_20d")
    expected = [Row(trade_date=D0 + timedelta(days=i), volatility_20d=None) for i in range(20)]
    expected += [
        Row(trade_date=D0 + timedelta(days=20),
            volatility_20d=statistics.stdev(logs[0:20]) * math.sqrt(252)),
        Row(trade_date=D0 + timedelta(days=21),
            volatility_20d=statistics.stdev(logs[1:21]) * math.sqrt(252)),
    ]
    assertDataFrameEqual(got, expected)


def test_incremental_recompute_equals_full_recompute(spark):
    closes = [10.0 + (i % 7) - (i % 3) for i in range(30)]
    old = daily_frame(spark, closes)
    starts_all = spark.createDataFrame([("AAPL", D0)], "symbol string, start date")
    empty_gold = spark.createDataFrame([], old.schema)
    old_gold = gold_rows(old, empty_gold, starts_all)

    # day 20 is corrected in silver: only that day is re-aggregated
    day = D0 + timedelta(days=20)
    corrected = closes.copy()
    corrected[20] = 30.0
    new_daily = daily_frame(spark, corrected).where(F.col("trade_date") == day)
    starts = spark.createDataFrame([("AAPL", day)], "symbol string, start date")
    incremental = gold_rows(new_daily, old_gold, starts)

    full = gold_rows(daily_frame(spark, corrected), empty_gold, starts_all).where(
        F.col("trade_date") >= day)
    assert incremental.columns == list(GOLD_COLUMNS)
    assertDataFrameEqual(incremental, full)
    assert incremental.count() == 10


def test_daily_columns_contract():
    assert DAILY_COLUMNS[:2] == ("symbol", "trade_date")
    assert set(DAILY_COLUMNS) <= set(GOLD_COLUMNS)
