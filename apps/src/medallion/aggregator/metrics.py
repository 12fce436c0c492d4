"""Pure gold transformations: silver bars -> daily OHLCV -> daily metrics.

Definitions (what the dashboard shows):

* Daily OHLCV per (symbol, trade_date) from the *finest* bar interval present that day
  (intraday bars when there are any, else the 1d bar): first open, max high, min low,
  last close (by ts), sum of volume; ``bar_count`` = bars aggregated.
* ``vwap`` = sum(typical * volume) / sum(volume) over the day's bars with volume > 0,
  typical = (high + low + close) / 3; NULL when no bar has volume (e.g. an index).
* Returns use ``adj_close`` when present (split/dividend adjusted), else ``close``:
  ``return_simple`` = p / p_prev - 1, ``return_log`` = ln(p / p_prev); NULL on the first day.
* ``sma_20/50/200`` = mean close over the last N trading days incl. today; NULL until
  N days exist. ``volatility_20d`` = stddev_samp of the last 20 log returns * sqrt(252);
  NULL until 20 returns exist.
* ``drawdown`` = close / running max close (all history up to today) - 1.
* ``high_52w`` / ``low_52w`` = max high / min low over the last 252 *trading days*
  (rows) incl. today, over the rows available (not NULL before a full year).
* ``updated_at`` = latest ``ingested_at`` among the day's bars: deterministic (from the
  data, never the clock), so recomputing the same input gives the same row.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

SMA_WINDOWS = (20, 50, 200)
VOL_WINDOW = 20
RANGE_WINDOW = 252
# rows of history before the first recomputed day that the windows above can reach
LOOKBACK_ROWS = max(max(SMA_WINDOWS), RANGE_WINDOW, VOL_WINDOW + 1)

INTERVAL_MINUTES = {
    "1m": 1,
    "2m": 2,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "60m": 60,
    "1h": 60,
    "90m": 90,
    "1d": 1440,
    "5d": 7200,
    "1wk": 10080,
    "1mo": 43200,
}

DAILY_COLUMNS = (
    "symbol",
    "trade_date",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "vwap",
    "bar_count",
    "updated_at",
)
GOLD_COLUMNS = (
    "symbol",
    "trade_date",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
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
    "bar_count",
    "updated_at",
)


def _minutes(interval: Column) -> Column:
    mapping = F.create_map(*[x for k, v in INTERVAL_MINUTES.items() for x in (F.lit(k), F.lit(v))])
    return F.coalesce(F.try_element_at(mapping, interval), F.lit(1440))


def daily_bars(silver: DataFrame) -> DataFrame:
    """silver/prices rows -> one row per (symbol, trade_date) with :data:`DAILY_COLUMNS`."""
    typical = (F.col("high") + F.col("low") + F.col("close")) / 3
    traded = F.col("volume") > 0
    per_interval = (
        silver.select(
            "symbol",
            "trade_date",
            "ts",
            "open",
            "high",
            "low",
            "close",
            "adj_close",
            "volume",
            "ingested_at",
            _minutes(F.col("interval")).alias("minutes"),
        )
        .groupBy("symbol", "trade_date", "minutes")
        .agg(
            F.min_by("open", "ts").alias("open"),
            F.max("high").alias("high"),
            F.min("low").alias("low"),
            F.max_by("close", "ts").alias("close"),
            F.max_by("adj_close", "ts").alias("adj_close"),
            F.sum("volume").alias("volume"),
            F.sum(F.when(traded, typical * F.col("volume"))).alias("pv"),
            F.sum(F.when(traded, F.col("volume"))).alias("traded_volume"),
            F.count("*").cast("int").alias("bar_count"),
            F.max("ingested_at").alias("updated_at"),
        )
    )
    finest = Window.partitionBy("symbol", "trade_date")
    picked = per_interval.select("*", F.min("minutes").over(finest).alias("finest")).where(
        F.col("minutes") == F.col("finest")
    )
    return picked.select(
        "symbol",
        "trade_date",
        "open",
        "high",
        "low",
        "close",
        "adj_close",
        "volume",
        F.when(F.col("traded_volume") > 0, F.col("pv") / F.col("traded_volume")).alias("vwap"),
        "bar_count",
        "updated_at",
    )


def with_metrics(daily: DataFrame) -> DataFrame:
    """Daily rows (+ optional ``seed_max``: the highest close *before* the first row given
    for the symbol) -> :data:`GOLD_COLUMNS`. Rows must be a contiguous tail of the
    symbol's history that starts at least :data:`LOOKBACK_ROWS` before the first row
    whose metrics are kept."""
    if "seed_max" not in daily.columns:
        daily = daily.select("*", F.lit(None).cast("double").alias("seed_max"))
    order = Window.partitionBy("symbol").orderBy("trade_date")

    def last(n: int) -> Window:
        return order.rowsBetween(-(n - 1), Window.currentRow)

    price = F.coalesce(F.col("adj_close"), F.col("close"))
    prev = F.lag(price, 1).over(order)
    r_log = F.when(prev > 0, F.ln(price / prev))
    base = daily.select(
        *DAILY_COLUMNS,
        "seed_max",
        F.when(prev > 0, price / prev - 1).alias("return_simple"),
        r_log.alias("return_log"),
    )
    smas = [
        F.when(F.count("close").over(last(n)) == n, F.avg("close").over(last(n))).alias(f"sma_{n}")
        for n in SMA_WINDOWS
    ]
    vol = F.when(
        F.count("return_log").over(last(VOL_WINDOW)) == VOL_WINDOW,
        F.stddev_samp("return_log").over(last(VOL_WINDOW)) * math.sqrt(252),
    )
    running_max = F.greatest(
        F.max("close").over(order.rowsBetween(Window.unboundedPreceding, Window.currentRow)),
        F.coalesce(F.col("seed_max"), F.col("close")),
    )
    return base.select(
        "symbol",
        "trade_date",
        "open",
        "high",
        "low",
        "close",
        "adj_close",
        "volume",
        "vwap",
        "return_simple",
        "return_log",
        *smas,
        vol.alias("volatility_20d"),
        (F.col("close") / running_max - 1).alias("drawdown"),
        F.max("high").over(last(RANGE_WINDOW)).alias("high_52w"),
        F.min("low").over(last(RANGE_WINDOW)).alias("low_52w"),
        "bar_count",
        "updated_at",
    )


def recompute_series(new_daily: DataFrame, gold: DataFrame, starts: DataFrame) -> DataFrame:
    """The rows the windows need, per symbol: up to LOOKBACK_ROWS gold rows before the
    symbol's first affected day, the recomputed affected days, and the unaffected later
    gold days (their OHLCV is unchanged but their metrics shift). Adds ``seed_max``.

    ``starts``: (symbol, start) = first affected trade_date per symbol.
    """
    gold_d = gold.select(*DAILY_COLUMNS).join(starts, on="symbol", how="inner")
    before = gold_d.where(F.col("trade_date") < F.col("start"))
    seed = before.groupBy("symbol").agg(F.max("close").alias("seed_max"))
    recent = before.select(
        *DAILY_COLUMNS,
        F.row_number()
        .over(Window.partitionBy("symbol").orderBy(F.col("trade_date").desc()))
        .alias("back"),
    ).where(F.col("back") <= LOOKBACK_ROWS)
    later = gold_d.where(F.col("trade_date") >= F.col("start")).join(
        new_daily.select("symbol", "trade_date"), on=["symbol", "trade_date"], how="left_anti"
    )
    series = (
        recent.select(*DAILY_COLUMNS)
        .unionByName(later.select(*DAILY_COLUMNS))
        .unionByName(new_daily.select(*DAILY_COLUMNS))
    )
    # seed_max must not include the kept history rows twice; max() is idempotent anyway.
    return series.join(seed, on="symbol", how="left").select(*DAILY_COLUMNS, "seed_max")


def gold_rows(new_daily: DataFrame, gold: DataFrame, starts: DataFrame) -> DataFrame:
    """Recomputed gold rows for every day >= the symbol's first affected day."""
    metrics = with_metrics(recompute_series(new_daily, gold, starts))
    return (
        metrics.join(starts, on="symbol", how="inner")
        .where(F.col("trade_date") >= F.col("start"))
        .select(*GOLD_COLUMNS)
    )
