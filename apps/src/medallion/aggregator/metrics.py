"""Pure gold transformations: silver bars + corporate actions -> daily OHLCV -> metrics.

Adjusted prices (the one definition; the README's data contract says the same):

* **Split-adjusted** (``*_adj``) prices are *back-adjusted*, as the chart API's own
  ``adjclose`` is: every bar before a split's ex-date is divided by the split's ratio
  (numerator / denominator; a 4:1 split divides by 4) and its volume multiplied by it,
  so the latest prices stay as traded.
* A provider may already have adjusted a bar: the chart API returns history
  split-adjusted when it is fetched after the split. A stored bar therefore carries the
  splits whose ex-date is on or before its *as-of date* and lacks the later ones. The
  as-of date is the exchange-local date of the bar's fetch (``ingested_at``, lineage)
  for Yahoo-format sources, and the bar's own trade date for Alpha Vantage (whose
  OHLC are always as traded). So a bar is divided by exactly the splits with
  ``ex_date > max(trade_date, as_of)``: never twice, never not at all.
  ``split_factor`` = the product of the ratios of every split with ``ex_date >
  trade_date`` (= ``close_raw / close_adj``).
* **As traded** (``*_raw``) = the stored bar multiplied by the splits it already
  carried (``trade_date < ex_date <= as_of``): the price printed on that day.
* **Total return** (``close_tr``) = ``close_adj`` times, for every dividend with
  ``ex_date > trade_date``, ``1 - amount_adj / close_adj(last trading day before the
  ex-date)`` (the CRSP / chart-API ``adjclose`` method). A dividend's amount is
  split-adjusted by the same as-of rule as a bar.
* Intraday bars carry no ``adjclose``: each bar gets the factor of its own trade date
  (and fetch), then the day is aggregated.

Metrics (all on split-adjusted values, never mixing adjusted with unadjusted):

* Daily OHLCV per (symbol, trade_date) from the *finest* bar interval present that day
  (intraday bars when there are any, else the 1d bar): first open, max high, min low,
  last close (by ts), sum of volume; ``bar_count`` = bars aggregated.
* ``vwap`` = sum(typical_adj * volume_adj) / sum(volume_adj) over the day's bars with
  volume > 0, typical = (high + low + close) / 3; NULL when no bar has volume (an index).
* ``return_simple`` = close_adj / previous close_adj - 1, ``return_log`` = ln of the same
  ratio (price returns); ``return_total`` = close_tr / previous close_tr - 1 (dividends
  included). NULL on the first day.
* ``sma_20/50/200`` = mean close_adj over the last N trading days incl. today; NULL until
  N days exist. ``volatility_20d`` = stddev_samp of the last 20 ``return_log`` *
  sqrt(252); NULL until 20 returns exist.
* ``drawdown`` = close_adj / running max close_adj (all history up to today) - 1.
* ``high_52w`` / ``low_52w`` = max high_adj / min low_adj over the last 252 *trading
  days* (rows) incl. today, over the rows available (not NULL before a full year).
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

# Sources whose OHLC are always as traded (never adjusted by the provider).
AS_TRADED_SOURCES = ("alphavantage",)

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

RAW_PRICES = ("open_raw", "high_raw", "low_raw", "close_raw")
ADJ_PRICES = ("open_adj", "high_adj", "low_adj", "close_adj")

ADJUSTED_BAR_COLUMNS = (
    "symbol",
    "interval",
    "ts",
    "trade_date",
    *RAW_PRICES,
    "volume_raw",
    "split_factor",
    *ADJ_PRICES,
    "volume_adj",
    "ingested_at",
)
DAILY_COLUMNS = (
    "symbol",
    "trade_date",
    *RAW_PRICES,
    "volume_raw",
    "split_factor",
    *ADJ_PRICES,
    "volume_adj",
    "vwap",
    "bar_count",
    "updated_at",
)
GOLD_COLUMNS = (
    "symbol",
    "trade_date",
    *RAW_PRICES,
    "volume_raw",
    "split_factor",
    *ADJ_PRICES,
    "volume_adj",
    "close_tr",
    "vwap",
    "return_simple",
    "return_log",
    "return_total",
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


def _product(values: Column) -> Column:
    """Product of an array of doubles in a fixed order (sorted), so a recompute of the
    same input gives bit-identical results; 1.0 for an empty array."""
    return F.aggregate(F.array_sort(values), F.lit(1.0), lambda acc, x: acc * x)


def as_of_date(
    source: Column, ingested_at: Column, zone: Column, trade_date: Column
) -> Column:
    """The last ex-date whose splits the provider had already applied to a stored row."""
    fetched = F.to_date(F.from_utc_timestamp(ingested_at, F.coalesce(zone, F.lit("UTC"))))
    return F.when(source.isin(list(AS_TRADED_SOURCES)), trade_date).otherwise(
        F.greatest(trade_date, F.coalesce(fetched, trade_date))
    )


def split_factors(keys: DataFrame, splits: DataFrame) -> DataFrame:
    """(symbol, trade_date, as_of) -> ``to_apply`` (ratios of splits after both dates:
    divide by it) and ``applied`` (ratios the provider already applied: multiply by it to
    get the price as traded). ``splits``: (symbol, ex_date, ratio)."""
    s = splits.select(
        F.col("symbol").alias("s_symbol"), F.col("ex_date"), F.col("ratio")
    )
    joined = keys.join(
        F.broadcast(s),
        (F.col("symbol") == F.col("s_symbol")) & (F.col("ex_date") > F.col("trade_date")),
        how="inner",
    )
    return (
        joined.groupBy("symbol", "trade_date", "as_of")
        .agg(
            _product(F.collect_list(F.when(F.col("ex_date") > F.col("as_of"), F.col("ratio"))))
            .alias("to_apply"),
            _product(F.collect_list(F.when(F.col("ex_date") <= F.col("as_of"), F.col("ratio"))))
            .alias("applied"),
        )
        .select("symbol", "trade_date", "as_of", "to_apply", "applied")
    )


def adjusted_bars(silver: DataFrame, actions: DataFrame) -> DataFrame:
    """silver/prices rows -> :data:`ADJUSTED_BAR_COLUMNS` (as traded and split-adjusted).

    ``actions``: silver/corporate_actions rows (only splits are used here)."""
    bars = silver.select(
        "symbol",
        "interval",
        "ts",
        "trade_date",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "ingested_at",
        as_of_date(
            F.col("source"), F.col("ingested_at"), F.col("exchange_tz"), F.col("trade_date")
        ).alias("as_of"),
    )
    splits = actions.where(F.col("kind") == "split").select("symbol", "ex_date", "ratio")
    factors = split_factors(
        bars.select("symbol", "trade_date", "as_of").distinct(), splits
    )
    joined = bars.join(factors, on=["symbol", "trade_date", "as_of"], how="left")
    to_apply = F.coalesce(F.col("to_apply"), F.lit(1.0))
    applied = F.coalesce(F.col("applied"), F.lit(1.0))
    return joined.select(
        "symbol",
        "interval",
        "ts",
        "trade_date",
        *[(F.col(p) * applied).alias(f"{p}_raw") for p in ("open", "high", "low", "close")],
        F.round(F.col("volume") / applied).cast("long").alias("volume_raw"),
        (to_apply * applied).alias("split_factor"),
        *[(F.col(p) / to_apply).alias(f"{p}_adj") for p in ("open", "high", "low", "close")],
        (F.col("volume") * to_apply).alias("volume_adj"),
        "ingested_at",
    )


def daily_bars(bars: DataFrame) -> DataFrame:
    """:func:`adjusted_bars` rows -> one row per (symbol, trade_date), :data:`DAILY_COLUMNS`."""
    typical = (F.col("high_adj") + F.col("low_adj") + F.col("close_adj")) / 3
    traded = F.col("volume_adj") > 0
    per_interval = (
        bars.select(*ADJUSTED_BAR_COLUMNS, _minutes(F.col("interval")).alias("minutes"))
        .groupBy("symbol", "trade_date", "minutes")
        .agg(
            F.min_by("open_raw", "ts").alias("open_raw"),
            F.max("high_raw").alias("high_raw"),
            F.min("low_raw").alias("low_raw"),
            F.max_by("close_raw", "ts").alias("close_raw"),
            F.sum("volume_raw").alias("volume_raw"),
            F.max_by("split_factor", "ts").alias("split_factor"),
            F.min_by("open_adj", "ts").alias("open_adj"),
            F.max("high_adj").alias("high_adj"),
            F.min("low_adj").alias("low_adj"),
            F.max_by("close_adj", "ts").alias("close_adj"),
            F.sum("volume_adj").alias("volume_adj"),
            F.sum(F.when(traded, typical * F.col("volume_adj"))).alias("pv"),
            F.sum(F.when(traded, F.col("volume_adj"))).alias("traded_volume"),
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
        *RAW_PRICES,
        "volume_raw",
        "split_factor",
        *ADJ_PRICES,
        "volume_adj",
        F.when(F.col("traded_volume") > 0, F.col("pv") / F.col("traded_volume")).alias("vwap"),
        "bar_count",
        "updated_at",
    )


def dividend_factors(daily: DataFrame, actions: DataFrame) -> DataFrame:
    """(symbol, ex_date, factor) per dividend: ``1 - amount_adj / close_adj`` of the last
    trading day before the ex-date in ``daily`` (dividends with no such day are left
    out: no row precedes them). ``actions`` as in :func:`adjusted_bars`; the dividend
    rows need ``source``, ``ingested_at`` and ``exchange_tz`` for their as-of date."""
    divs = actions.where(F.col("kind") == "dividend").select(
        "symbol",
        F.col("ex_date").alias("trade_date"),
        "amount",
        as_of_date(
            F.col("source"), F.col("ingested_at"), F.col("exchange_tz"), F.col("ex_date")
        ).alias("as_of"),
    )
    splits = actions.where(F.col("kind") == "split").select("symbol", "ex_date", "ratio")
    factors = split_factors(divs.select("symbol", "trade_date", "as_of").distinct(), splits)
    adjusted = divs.join(factors, on=["symbol", "trade_date", "as_of"], how="left").select(
        "symbol",
        F.col("trade_date").alias("ex_date"),
        (F.col("amount") / F.coalesce(F.col("to_apply"), F.lit(1.0))).alias("amount_adj"),
    )
    d = daily.select(
        F.col("symbol").alias("d_symbol"), F.col("trade_date").alias("d_date"), "close_adj"
    )
    prev = adjusted.join(
        d,
        (F.col("symbol") == F.col("d_symbol")) & (F.col("d_date") < F.col("ex_date")),
        how="inner",
    )
    return (
        prev.groupBy("symbol", "ex_date", "amount_adj")
        .agg(F.max_by("close_adj", "d_date").alias("prev_close"))
        .select(
            "symbol",
            "ex_date",
            (1 - F.col("amount_adj") / F.col("prev_close")).alias("factor"),
        )
        .where(F.col("factor") > 0)
    )


def with_total_return(daily: DataFrame, factors: DataFrame) -> DataFrame:
    """Daily rows + ``close_tr`` = close_adj * product of the factors of every dividend
    with ex_date > trade_date."""
    f = factors.select(F.col("symbol").alias("f_symbol"), "ex_date", "factor")
    keys = daily.select("symbol", "trade_date")
    products = (
        keys.join(
            F.broadcast(f),
            (F.col("symbol") == F.col("f_symbol")) & (F.col("ex_date") > F.col("trade_date")),
            how="inner",
        )
        .groupBy("symbol", "trade_date")
        .agg(_product(F.collect_list("factor")).alias("tr_factor"))
    )
    return daily.join(products, on=["symbol", "trade_date"], how="left").select(
        *DAILY_COLUMNS,
        (F.col("close_adj") * F.coalesce(F.col("tr_factor"), F.lit(1.0))).alias("close_tr"),
    )


def with_metrics(daily: DataFrame) -> DataFrame:
    """Daily rows with ``close_tr`` (+ optional ``seed_max``: the highest close_adj
    *before* the first row given for the symbol) -> :data:`GOLD_COLUMNS`. Rows must be a
    contiguous tail of the symbol's history that starts at least :data:`LOOKBACK_ROWS`
    before the first row whose metrics are kept."""
    if "seed_max" not in daily.columns:
        daily = daily.select("*", F.lit(None).cast("double").alias("seed_max"))
    order = Window.partitionBy("symbol").orderBy("trade_date")

    def last(n: int) -> Window:
        return order.rowsBetween(-(n - 1), Window.currentRow)

    price = F.col("close_adj")
    prev = F.lag(price, 1).over(order)
    prev_tr = F.lag("close_tr", 1).over(order)
    base = daily.select(
        *DAILY_COLUMNS,
        "close_tr",
        "seed_max",
        F.when(prev > 0, price / prev - 1).alias("return_simple"),
        F.when(prev > 0, F.ln(price / prev)).alias("return_log"),
        F.when(prev_tr > 0, F.col("close_tr") / prev_tr - 1).alias("return_total"),
    )
    smas = [
        F.when(F.count("close_adj").over(last(n)) == n, F.avg("close_adj").over(last(n))).alias(
            f"sma_{n}"
        )
        for n in SMA_WINDOWS
    ]
    vol = F.when(
        F.count("return_log").over(last(VOL_WINDOW)) == VOL_WINDOW,
        F.stddev_samp("return_log").over(last(VOL_WINDOW)) * math.sqrt(252),
    )
    running_max = F.greatest(
        F.max("close_adj").over(order.rowsBetween(Window.unboundedPreceding, Window.currentRow)),
        F.coalesce(F.col("seed_max"), F.col("close_adj")),
    )
    return base.select(
        "symbol",
        "trade_date",
        *RAW_PRICES,
        "volume_raw",
        "split_factor",
        *ADJ_PRICES,
        "volume_adj",
        "close_tr",
        "vwap",
        "return_simple",
        "return_log",
        "return_total",
        *smas,
        vol.alias("volatility_20d"),
        (F.col("close_adj") / running_max - 1).alias("drawdown"),
        F.max("high_adj").over(last(RANGE_WINDOW)).alias("high_52w"),
        F.min("low_adj").over(last(RANGE_WINDOW)).alias("low_52w"),
        "bar_count",
        "updated_at",
    )


def recompute_series(new_daily: DataFrame, gold: DataFrame, starts: DataFrame) -> DataFrame:
    """The rows the windows need, per symbol: up to LOOKBACK_ROWS gold rows before the
    symbol's first affected day, the recomputed affected days, and the unaffected later
    gold days (their OHLCV is unchanged but their metrics shift). Adds ``seed_max``.

    ``new_daily`` carries ``close_tr``; ``starts``: (symbol, start) = first affected
    trade_date per symbol. A symbol whose corporate actions changed must be recomputed
    from its first day (its stored gold rows were adjusted with the old actions).
    """
    cols = (*DAILY_COLUMNS, "close_tr")
    gold_d = gold.select(*cols).join(starts, on="symbol", how="inner")
    before = gold_d.where(F.col("trade_date") < F.col("start"))
    seed = before.groupBy("symbol").agg(F.max("close_adj").alias("seed_max"))
    recent = before.select(
        *cols,
        F.row_number()
        .over(Window.partitionBy("symbol").orderBy(F.col("trade_date").desc()))
        .alias("back"),
    ).where(F.col("back") <= LOOKBACK_ROWS)
    later = gold_d.where(F.col("trade_date") >= F.col("start")).join(
        new_daily.select("symbol", "trade_date"), on=["symbol", "trade_date"], how="left_anti"
    )
    series = (
        recent.select(*cols)
        .unionByName(later.select(*cols))
        .unionByName(new_daily.select(*cols))
    )
    return series.join(seed, on="symbol", how="left").select(*cols, "seed_max")


def gold_rows(
    new_daily: DataFrame, gold: DataFrame, starts: DataFrame, actions: DataFrame
) -> DataFrame:
    """Recomputed gold rows for every day >= the symbol's first affected day.

    ``new_daily``: :func:`daily_bars` of the affected days. The dividend factors need
    the close before each ex-date: the job recomputes a symbol from its first day
    whenever an affected day precedes one of its dividends, so they are all here."""
    factors = dividend_factors(
        new_daily.select("symbol", "trade_date", "close_adj").unionByName(
            gold.select("symbol", "trade_date", "close_adj").join(
                new_daily.select("symbol", "trade_date"),
                on=["symbol", "trade_date"],
                how="left_anti",
            )
        ),
        actions,
    )
    metrics = with_metrics(recompute_series(with_total_return(new_daily, factors), gold, starts))
    return (
        metrics.join(starts, on="symbol", how="inner")
        .where(F.col("trade_date") >= F.col("start"))
        .select(*GOLD_COLUMNS)
    )
