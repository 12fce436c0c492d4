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
    adjusted_bars,
    daily_bars,
    gold_rows,
    with_metrics,
)
from tests.unit.aggregator.frames import ACTIONS, DAILY, SILVER

D0 = date(2024, 1, 1)
AT = datetime(2024, 1, 2, 0, 0)
NY = "America/New_York"


def daily_frame(spark, closes, symbol="AAPL", start=D0, tr=None):
    rows = []
    for i, c in enumerate(closes):
        t = c if tr is None else tr[i]
        rows.append((symbol, start + timedelta(days=i), c, c + 1, c - 1, c, 100, 1.0,
                     c, c + 1, c - 1, c, 100.0, c, 1, AT, t))
    return spark.createDataFrame(rows, DAILY)


def no_actions(spark):
    return spark.createDataFrame([], ACTIONS)


def bars(spark, closes, fetched, start=date(2024, 1, 2), volume=100):
    """One 1d yahoo bar per day (14:30 UTC), high/low = close +- 1, fetched at ``fetched``."""
    rows = []
    for i, c in enumerate(closes):
        d = start + timedelta(days=i)
        rows.append(("AAPL", "1d", datetime(d.year, d.month, d.day, 14, 30), d, c, c + 1,
                     c - 1, c, None, volume, "yahoo", NY, fetched))
    return spark.createDataFrame(rows, SILVER)


def gold_of(spark, silver, actions):
    starts = spark.createDataFrame([("AAPL", date(2000, 1, 1))], "symbol string, start date")
    empty = spark.createDataFrame([], daily_frame(spark, [1.0]).schema)
    daily = daily_bars(adjusted_bars(silver, actions))
    return gold_rows(daily, empty, starts, actions)


def test_daily_from_intraday_with_hand_computed_vwap(spark):
    d = date(2024, 1, 2)
    silver = spark.createDataFrame(
        [
            # 1m bars: typical 10 * 100 + 12 * 300 = 4600 over volume 400 -> vwap 11.5;
            # the last bar has no volume: it sets close/high but is skipped by the vwap.
            ("AAPL", "1m", datetime(2024, 1, 2, 14, 31), d, 9.5, 11.0, 9.0, 10.0, None, 100,
             "yahoo", NY, AT),
            ("AAPL", "1m", datetime(2024, 1, 2, 14, 30), d, 9.0, 13.0, 11.0, 12.0, None, 300,
             "yahoo", NY, AT),
            ("AAPL", "1m", datetime(2024, 1, 2, 14, 32), d, 10.0, 20.0, 10.0, 15.0, None, 0,
             "yahoo", NY, datetime(2024, 1, 3)),
            # a 1d bar of the same day is ignored: intraday bars are present
            ("AAPL", "1d", datetime(2024, 1, 2, 14, 30), d, 1.0, 99.0, 1.0, 50.0, 50.0, 9999,
             "yahoo", NY, AT),
            # another day with only a daily bar
            ("AAPL", "1d", datetime(2024, 1, 3, 14, 30), date(2024, 1, 3), 15.0, 16.0, 14.0,
             15.5, 15.4, 1000, "yahoo", NY, AT),
        ],
        SILVER,
    )
    got = daily_bars(adjusted_bars(silver, no_actions(spark))).select(
        "trade_date", "open_adj", "high_adj", "low_adj", "close_adj", "volume_adj", "close_raw",
        "volume_raw", "split_factor", "vwap", "bar_count", "updated_at")
    assertDataFrameEqual(
        got,
        [
            Row(trade_date=d, open_adj=9.0, high_adj=20.0, low_adj=9.0, close_adj=15.0,
                volume_adj=400.0, close_raw=15.0, volume_raw=400, split_factor=1.0, vwap=11.5,
                bar_count=3, updated_at=datetime(2024, 1, 3)),
            Row(trade_date=date(2024, 1, 3), open_adj=15.0, high_adj=16.0, low_adj=14.0,
                close_adj=15.5, volume_adj=1000.0, close_raw=15.5, volume_raw=1000,
                split_factor=1.0, vwap=(16.0 + 14.0 + 15.5) / 3, bar_count=1, updated_at=AT),
        ],
    )


def test_vwap_null_without_volume(spark):
    silver = spark.createDataFrame(
        [("^GSPC", "1d", datetime(2024, 1, 2, 14, 30), D0, 1.0, 2.0, 0.5, 1.5, None, 0,
          "yahoo", NY, AT)],
        SILVER,
    )
    assert daily_bars(adjusted_bars(silver, no_actions(spark))).first()["vwap"] is None


def test_sma_is_null_until_the_window_is_full(spark):
    closes = [float(i) for i in range(1, 22)]  # 1..21
    got = with_metrics(daily_frame(spark, closes)).select("trade_date", "sma_20", "sma_50")
    expected = [Row(trade_date=D0 + timedelta(days=i), sma_20=None, sma_50=None)
                for i in range(19)]
    expected += [Row(trade_date=D0 + timedelta(days=19), sma_20=10.5, sma_50=None),
                 Row(trade_date=D0 + timedelta(days=20), sma_20=11.5, sma_50=None)]
    assertDataFrameEqual(got, expected)


# A 2:1 split with ex-date 2024-01-04: traded closes 10, 12 before it, 6 on the ex-date.
SPLIT = ("AAPL", "split", date(2024, 1, 4), 2.0, None, "yahoo", NY, datetime(2024, 1, 5))


def test_returns_never_divide_an_adjusted_price_by_an_unadjusted_one(spark):
    # fetched before the split: the stored bars are as traded and must be divided by 2
    silver = bars(spark, [10.0, 12.0], fetched=datetime(2024, 1, 3, 22, 0)).unionByName(
        bars(spark, [6.0], fetched=datetime(2024, 1, 4, 22, 0), start=date(2024, 1, 4)))
    actions = spark.createDataFrame([SPLIT], ACTIONS)
    got = gold_of(spark, silver, actions).select(
        "trade_date", "close_raw", "close_adj", "split_factor", "volume_adj", "return_simple",
        "drawdown", "high_52w")
    assertDataFrameEqual(
        got,
        [
            Row(trade_date=date(2024, 1, 2), close_raw=10.0, close_adj=5.0, split_factor=2.0,
                volume_adj=200.0, return_simple=None, drawdown=0.0, high_52w=5.5),
            Row(trade_date=date(2024, 1, 3), close_raw=12.0, close_adj=6.0, split_factor=2.0,
                volume_adj=200.0, return_simple=6.0 / 5.0 - 1, drawdown=0.0, high_52w=6.5),
            # not 6 / 12 - 1 = -50 %: the split is not a loss
            Row(trade_date=date(2024, 1, 4), close_raw=6.0, close_adj=6.0, split_factor=1.0,
                volume_adj=100.0, return_simple=0.0, drawdown=0.0, high_52w=7.0),
        ],
    )


def test_bars_fetched_after_the_split_are_not_adjusted_twice(spark):
    # the provider already returned the history split-adjusted (5, 6) when fetched after
    # the ex-date: the stored bars are divided by nothing, the as-traded price restored
    silver = bars(spark, [5.0, 6.0, 6.0], fetched=datetime(2024, 1, 8, 22, 0), volume=200)
    actions = spark.createDataFrame([SPLIT], ACTIONS)
    got = gold_of(spark, silver, actions).select(
        "trade_date", "close_raw", "volume_raw", "close_adj", "volume_adj", "return_simple")
    assertDataFrameEqual(
        got,
        [
            Row(trade_date=date(2024, 1, 2), close_raw=10.0, volume_raw=100, close_adj=5.0,
                volume_adj=200.0, return_simple=None),
            Row(trade_date=date(2024, 1, 3), close_raw=12.0, volume_raw=100, close_adj=6.0,
                volume_adj=200.0, return_simple=0.2),
            Row(trade_date=date(2024, 1, 4), close_raw=6.0, volume_raw=200, close_adj=6.0,
                volume_adj=200.0, return_simple=0.0),
        ],
    )


def test_alphavantage_bars_are_always_as_traded(spark):
    silver = bars(spark, [10.0, 12.0, 6.0], fetched=datetime(2024, 1, 8, 22, 0)).withColumn(
        "source", F.lit("alphavantage"))
    actions = spark.createDataFrame([SPLIT], ACTIONS)
    got = gold_of(spark, silver, actions).select("trade_date", "close_adj", "close_raw")
    assertDataFrameEqual(got, [
        Row(trade_date=date(2024, 1, 2), close_adj=5.0, close_raw=10.0),
        Row(trade_date=date(2024, 1, 3), close_adj=6.0, close_raw=12.0),
        Row(trade_date=date(2024, 1, 4), close_adj=6.0, close_raw=6.0)])


def test_total_return_close_and_return(spark):
    # a 0.6 dividend with ex-date Jan 4; the close before it (Jan 3) is 12:
    # factor 1 - 0.6 / 12 = 0.95 on every day before the ex-date
    silver = bars(spark, [10.0, 12.0, 11.4, 11.0], fetched=datetime(2024, 1, 8))
    actions = spark.createDataFrame(
        [("AAPL", "dividend", date(2024, 1, 4), None, 0.6, "yahoo", NY, datetime(2024, 1, 8))],
        ACTIONS)
    got = gold_of(spark, silver, actions).select(
        "trade_date", "close_adj", "close_tr", "return_simple", "return_total")
    assertDataFrameEqual(
        got,
        [
            Row(trade_date=date(2024, 1, 2), close_adj=10.0, close_tr=9.5, return_simple=None,
                return_total=None),
            Row(trade_date=date(2024, 1, 3), close_adj=12.0, close_tr=12.0 * 0.95,
                return_simple=0.2, return_total=0.2),
            # price return 11.4 / 12 - 1 = -5 %; with the dividend back: 0 %
            Row(trade_date=date(2024, 1, 4), close_adj=11.4, close_tr=11.4,
                return_simple=11.4 / 12.0 - 1, return_total=11.4 / (12.0 * 0.95) - 1),
            Row(trade_date=date(2024, 1, 5), close_adj=11.0, close_tr=11.0,
                return_simple=11.0 / 11.4 - 1, return_total=11.0 / 11.4 - 1),
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
    actions = no_actions(spark)
    old = daily_frame(spark, closes).drop("close_tr")
    starts_all = spark.createDataFrame([("AAPL", D0)], "symbol string, start date")
    empty_gold = spark.createDataFrame([], daily_frame(spark, closes).schema)
    old_gold = gold_rows(old, empty_gold, starts_all, actions)

    # day 20 is corrected in silver: only that day is re-aggregated
    day = D0 + timedelta(days=20)
    corrected = closes.copy()
    corrected[20] = 30.0
    new_daily = daily_frame(spark, corrected).drop("close_tr").where(F.col("trade_date") == day)
    starts = spark.createDataFrame([("AAPL", day)], "symbol string, start date")
    incremental = gold_rows(new_daily, old_gold, starts, actions)

    full = gold_rows(daily_frame(spark, corrected).drop("close_tr"), empty_gold, starts_all,
                     actions).where(F.col("trade_date") >= day)
    assert incremental.columns == list(GOLD_COLUMNS)
    assertDataFrameEqual(incremental, full)
    assert incremental.count() == 10


def test_daily_columns_contract():
    assert DAILY_COLUMNS[:2] == ("symbol", "trade_date")
    assert set(DAILY_COLUMNS) <= set(GOLD_COLUMNS)
    assert "adj_close" not in GOLD_COLUMNS and "close" not in GOLD_COLUMNS
