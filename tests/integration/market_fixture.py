"""A realistic multi-symbol bronze fixture in Yahoo's chart format (plain Python).

What it holds, on NYSE trading days of 2024 from Jan 2 (Jan 15 and Feb 19 are
holidays: no bars, a gap in the calendar):

* **AAPL** — a 4:1 split with ex-date ``AAPL_SPLIT`` that arrives *after* the history:
  two fetches before the ex-date (as-traded prices, one with a dividend event), a fetch
  after it that carries the split event and, as the chart API does once a split has
  happened, the overlap bar re-adjusted; and a late correction of an old bar fetched after
  the split (so already split-adjusted by the provider).
* **MSFT** — a 3:2 split whose history was fetched *after* its ex-date (the provider
  returns it split-adjusted) with a dividend, plus an older as-traded fetch of the first
  days that the newer fetch supersedes.
* **SPX** — an index: zero volume every day (VWAP is NULL), and a later payload whose
  arrays differ in length (it must be quarantined whole, none of its bars used).

``objects()`` returns the payloads with their fetch time; the tests write them to bronze.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

HOLIDAYS = {date(2024, 1, 15), date(2024, 2, 19)}


def trading_days(n: int, start: date = date(2024, 1, 2)) -> list[date]:
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5 and d not in HOLIDAYS:
            days.append(d)
        d += timedelta(days=1)
    return days


DAYS = trading_days(46)
AAPL_SPLIT = DAYS[25]  # 4:1
AAPL_DIVIDEND = DAYS[20]
MSFT_SPLIT = DAYS[8]  # 3:2
MSFT_DIVIDEND = DAYS[15]


def _interval():
    from medallion.common.intervals import Interval

    return Interval(DAYS[0], DAYS[-1] + timedelta(days=2))


INTERVAL = _interval()  # every ingest date of the fixture


def open_ts(day: date) -> int:
    """09:30 New York as epoch seconds (14:30 UTC in winter, 13:30 after Mar 10)."""
    from zoneinfo import ZoneInfo

    local = datetime(day.year, day.month, day.day, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    return int(local.timestamp())


def evening(day: date) -> datetime:
    """A fetch after the close of ``day`` (22:00 UTC, the same New York day)."""
    return datetime(day.year, day.month, day.day, 22, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Traded:
    """What was printed on a day: prices as traded and the volume in shares of the day."""

    open: float
    high: float
    low: float
    close: float
    volume: int


def walk(seed: int, start: float, volume: int, split_day: date | None, ratio: float,
         zero_volume: bool = False) -> dict[date, Traded]:
    """A random walk of the *economic* price; before ``split_day`` the traded price is
    ``ratio`` times higher and the traded volume ``ratio`` times lower."""
    rng = random.Random(seed)
    out, price = {}, start
    for day in DAYS:
        prev = price
        price = round(price * (1 + rng.uniform(-0.03, 0.03)), 2)
        factor = ratio if split_day is not None and day < split_day else 1.0
        high = max(prev, price) * (1 + rng.uniform(0.001, 0.01))
        low = min(prev, price) * (1 - rng.uniform(0.001, 0.01))
        shares = 0 if zero_volume else int(volume * rng.uniform(0.5, 1.5)) * 6
        out[day] = Traded(
            open=round(prev * factor, 4),
            high=round(high * factor, 4),
            low=round(low * factor, 4),
            close=round(price * factor, 4),
            volume=int(shares / factor) if factor != 1.0 else shares,
        )
    return out


def chart(symbol: str, bars: list[tuple[date, Traded]], events: dict[str, Any] | None = None,
          drop_last_close: bool = False) -> dict[str, Any]:
    closes = [b.close for _, b in bars]
    quote = {
        "open": [b.open for _, b in bars],
        "high": [b.high for _, b in bars],
        "low": [b.low for _, b in bars],
        "close": closes[:-1] if drop_last_close else closes,
        "volume": [b.volume for _, b in bars],
    }
    return {
        "chart": {
            "result": [
                {
                    "meta": {
                        "symbol": symbol,
                        "currency": "USD",
                        "exchangeTimezoneName": "America/New_York",
                        "gmtoffset": -18000,
                        "timezone": "EST",
                        "dataGranularity": "1d",
                    },
                    "timestamp": [open_ts(d) for d, _ in bars],
                    "events": events or {},
                    # the provider's own adjclose; gold computes its own total return
                    "indicators": {"quote": [quote], "adjclose": [{"adjclose": closes}]},
                }
            ],
            "error": None,
        }
    }


def adjusted(bar: Traded, ratio: float) -> Traded:
    """The bar as the chart API returns it when fetched after a split of ``ratio``."""
    return Traded(bar.open / ratio, bar.high / ratio, bar.low / ratio, bar.close / ratio,
                  round(bar.volume * ratio))


def split_event(day: date, numerator: int, denominator: int) -> dict[str, Any]:
    ts = open_ts(day)
    return {str(ts): {"date": ts, "numerator": numerator, "denominator": denominator,
                      "splitRatio": f"{numerator}:{denominator}"}}


def dividend_event(day: date, amount: float) -> dict[str, Any]:
    ts = open_ts(day)
    return {str(ts): {"date": ts, "amount": amount}}


@dataclass(frozen=True)
class BronzeObject:
    symbol: str
    body: dict[str, Any]
    fetched_at: datetime
    wave: int  # 1 = known before AAPL's split arrives, 2 = the split's run, 3 = later


def objects() -> list[BronzeObject]:
    aapl = walk(1, 100.0, 1000, AAPL_SPLIT, 4.0)
    msft = walk(2, 300.0, 500, MSFT_SPLIT, 1.5)
    gspc = walk(3, 4800.0, 0, None, 1.0, zero_volume=True)

    def span(series, a, b):
        return [(d, series[d]) for d in DAYS[a : b + 1]]

    out = [
        # AAPL: history before the split, as traded
        BronzeObject("AAPL", chart("AAPL", span(aapl, 0, 10)), evening(DAYS[10]), 1),
        BronzeObject(
            "AAPL",
            chart("AAPL", span(aapl, 10, 24),
                  {"dividends": dividend_event(AAPL_DIVIDEND, 0.96)}),
            evening(DAYS[24]),
            1,
        ),
        # the run after the ex-date: the split event, and the overlap bar re-adjusted
        BronzeObject(
            "AAPL",
            chart("AAPL", [(DAYS[24], adjusted(aapl[DAYS[24]], 4.0)), *span(aapl, 25, 40)],
                  {"splits": split_event(AAPL_SPLIT, 4, 1)}),
            evening(DAYS[40]),
            2,
        ),
        # a late correction of an old bar, fetched after the split: already adjusted
        BronzeObject(
            "AAPL",
            chart("AAPL", [(DAYS[5], adjusted(Traded(
                aapl[DAYS[5]].open, aapl[DAYS[5]].high * 1.02, aapl[DAYS[5]].low,
                aapl[DAYS[5]].close * 1.015, aapl[DAYS[5]].volume + 600), 4.0))]),
            evening(DAYS[41]),
            3,
        ),
        # MSFT: an early as-traded fetch, superseded by a fetch after the 3:2 split
        BronzeObject("MSFT", chart("MSFT", span(msft, 0, 3)), evening(DAYS[3]), 1),
        BronzeObject(
            "MSFT",
            chart(
                "MSFT",
                [(d, adjusted(b, 1.5) if d < MSFT_SPLIT else b) for d, b in span(msft, 0, 30)],
                {"splits": split_event(MSFT_SPLIT, 3, 2),
                 "dividends": dividend_event(MSFT_DIVIDEND, 0.75)},
            ),
            evening(DAYS[30]),
            1,
        ),
        BronzeObject("MSFT", chart("MSFT", span(msft, 30, 45)), evening(DAYS[45]), 3),
        # the index: no volume; a malformed later payload that would move its closes
        BronzeObject("SPX", chart("SPX", span(gspc, 0, 45)), evening(DAYS[45]), 1),
        BronzeObject(
            "SPX",
            chart("SPX", [(d, adjusted(b, 0.5)) for d, b in span(gspc, 40, 45)],
                  drop_last_close=True),
            evening(DAYS[45]) + timedelta(hours=1),
            3,
        ),
    ]
    return out


WATCHLIST = "AAPL,MSFT,SPX"


def write_fixture(store: Any, waves: tuple[int, ...] = (1, 2, 3)) -> None:
    """Write the objects of ``waves`` to bronze (body + sidecar, as the ingestor does)."""
    from medallion.transformer.testing import write_bronze

    for i, obj in enumerate(objects()):
        if obj.wave in waves:
            write_bronze(store, obj.body, symbol=obj.symbol, ingest_date=obj.fetched_at.date(),
                         fetched_at=obj.fetched_at, run_id=f"run{i:02d}")
