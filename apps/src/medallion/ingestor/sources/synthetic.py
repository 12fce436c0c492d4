"""Deterministic synthetic market data in the Yahoo chart payload shape.

For offline runs, demos, tests and the benchmark. Prices follow a seeded random walk
whose value on a day is a pure function of (seed, symbol, day), so re-running any
interval yields byte-identical payloads, and adjacent intervals join up without gaps.
Bars sit at plausible exchange-local session times (New York, São Paulo, Tokyo) and
weekends have no bars.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import math
import random
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from medallion.ingestor.sources.base import BAR_LENGTH, Fetched, Limits, Source, Window
from medallion.ingestor.sources.yahoo import chart_limits, chart_params

ANCHOR = date(2000, 1, 1)  # the walk starts here; earlier days are not generated
_DAILY_SIGMA = 0.01
_DAILY_DRIFT = 0.0  # no drift: prices stay in a plausible band for decades


@dataclass(frozen=True)
class Exchange:
    timezone: str
    open: time
    close: time
    currency: str
    exchange_name: str
    full_name: str
    price_scale: float


_NEW_YORK = Exchange("America/New_York", time(9, 30), time(16, 0), "USD", "NMS", "NasdaqGS", 1)
_EXCHANGES = {
    ".SA": Exchange("America/Sao_Paulo", time(10, 0), time(17, 0), "BRL", "SAO", "São Paulo", 0.2),
    ".T": Exchange("Asia/Tokyo", time(9, 0), time(15, 30), "JPY", "JPX", "Tokyo", 20),
}


def exchange_for(symbol: str) -> Exchange:
    for suffix, exchange in _EXCHANGES.items():
        if symbol.upper().endswith(suffix):
            return exchange
    return _NEW_YORK


def _seed(*parts: object) -> int:
    # hash() is salted per process; sha256 gives the same seed in every run.
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class _Walk:
    """Cumulative log-price per day, computed in monthly blocks and memoised."""

    def __init__(self, seed: int, symbol: str) -> None:
        self.seed = seed
        self.symbol = symbol
        rng = random.Random(_seed(seed, symbol, "base"))
        self.base = math.log(rng.uniform(20, 500) * exchange_for(symbol).price_scale)
        self._month_start = [0.0]  # cumulative log-return at the start of month i
        self._lock = threading.Lock()

    def _month_returns(self, index: int) -> list[float]:
        year, month = ANCHOR.year + index // 12, index % 12 + 1
        rng = random.Random(_seed(self.seed, self.symbol, year, month))
        days = calendar.monthrange(year, month)[1]
        return [rng.gauss(_DAILY_DRIFT, _DAILY_SIGMA) for _ in range(days)]

    def log_level(self, day: date) -> float:
        if day < ANCHOR:
            raise ValueError(f"synthetic data starts at {ANCHOR}, asked for {day}")
        index = (day.year - ANCHOR.year) * 12 + day.month - 1
        with self._lock:
            while len(self._month_start) <= index:
                i = len(self._month_start) - 1
                self._month_start.append(self._month_start[i] + sum(self._month_returns(i)))
            start = self._month_start[index]
        return self.base + start + sum(self._month_returns(index)[: day.day - 1])


_WALKS: dict[tuple[int, str], _Walk] = {}
_WALKS_LOCK = threading.Lock()


def _walk(seed: int, symbol: str) -> _Walk:
    with _WALKS_LOCK:
        walk = _WALKS.get((seed, symbol))
        if walk is None:
            walk = _WALKS[(seed, symbol)] = _Walk(seed, symbol)
        return walk


@dataclass(frozen=True)
class Bar:
    ts: int  # epoch seconds, UTC
    open: float
    high: float
    low: float
    close: float
    volume: int


def day_bars(seed: int, symbol: str, interval: str, day: date, bars_per_day: int) -> list[Bar]:
    """All bars of one exchange-local trading day (none on weekends). Pure."""
    if day.weekday() >= 5:
        return []
    exchange = exchange_for(symbol)
    walk = _walk(seed, symbol)
    first = math.exp(walk.log_level(day))
    last = math.exp(walk.log_level(day + timedelta(days=1)))
    rng = random.Random(_seed(seed, symbol, day.isoformat(), interval))
    opened = datetime.combine(day, exchange.open, tzinfo=ZoneInfo(exchange.timezone))
    step = BAR_LENGTH[interval]
    count = 1 if interval == "1d" else max(1, min(bars_per_day, int(timedelta(days=1) / step)))
    # Brownian bridge from today's level to tomorrow's, so consecutive days join up.
    noise = [rng.gauss(0, _DAILY_SIGMA / math.sqrt(count)) for _ in range(count)]
    drift = (math.log(last) - math.log(first) - sum(noise)) / count
    bars, price = [], first * math.exp(rng.gauss(0, 0.002))
    day_volume = rng.uniform(2e6, 4e7)
    for i in range(count):
        close = price * math.exp(noise[i] + drift)
        wiggle = abs(rng.gauss(0, 0.003))
        high = max(price, close) * (1 + wiggle)
        low = min(price, close) * (1 - abs(rng.gauss(0, 0.003)))
        volume = int(day_volume / count * rng.uniform(0.5, 1.5))
        ts = int((opened + i * step).timestamp())
        bars.append(Bar(ts, *(round(v, 4) for v in (price, high, low, close)), volume))
        price = close
    return bars


def window_bars(
    seed: int, symbol: str, interval: str, window: Window, bars_per_day: int
) -> list[Bar]:
    """Bars with ``window.start <= ts < window.end``, in time order."""
    bars: list[Bar] = []
    # Exchange-local days can start before the UTC day (Tokyo), so look one day around.
    day = window.start.date() - timedelta(days=1)
    while day <= window.end.date():
        bars.extend(
            b
            for b in day_bars(seed, symbol, interval, day, bars_per_day)
            if window.start.timestamp() <= b.ts < window.end.timestamp()
        )
        day += timedelta(days=1)
    return bars


def chart_payload(
    symbol: str, interval: str, window: Window, bars: list[Bar], previous_close: float | None
) -> dict:
    """A Yahoo ``/v8/finance/chart`` document for ``bars`` (Yahoo's field order)."""
    exchange = exchange_for(symbol)
    zone = ZoneInfo(exchange.timezone)
    ref = datetime.fromtimestamp(bars[-1].ts, UTC) if bars else window.start
    local = ref.astimezone(zone)
    offset = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]
    meta = {
        "currency": exchange.currency,
        "symbol": symbol,
        "exchangeName": exchange.exchange_name,
        "fullExchangeName": exchange.full_name,
        "instrumentType": "EQUITY",
        "firstTradeDate": int(datetime.combine(ANCHOR, time.min, tzinfo=UTC).timestamp()),
        "regularMarketTime": bars[-1].ts if bars else int(window.start.timestamp()),
        "hasPrePostMarketData": False,
        "gmtoffset": offset,
        "timezone": local.tzname(),
        "exchangeTimezoneName": exchange.timezone,
        "regularMarketPrice": bars[-1].close if bars else previous_close,
        "chartPreviousClose": previous_close,
        "priceHint": 2,
        "dataGranularity": interval,
        "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }
    result: dict = {"meta": meta}
    if bars:
        result["timestamp"] = [b.ts for b in bars]
    quote = {
        "open": [b.open for b in bars],
        "high": [b.high for b in bars],
        "low": [b.low for b in bars],
        "close": [b.close for b in bars],
        "volume": [b.volume for b in bars],
    }
    result["indicators"] = {"quote": [quote if bars else {}]}
    if interval == "1d":
        result["indicators"]["adjclose"] = [{"adjclose": [b.close for b in bars]} if bars else {}]
    return {"chart": {"result": [result], "error": None}}


def chart_body(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def previous_close(seed: int, symbol: str, window: Window) -> float:
    return round(math.exp(_walk(seed, symbol).log_level(window.start.date())), 4)


class SyntheticSource(Source):
    """Generates Yahoo-shaped payloads locally: no network, no rate limit."""

    name = "synthetic"
    live = False

    def __init__(self, seed: int, bars_per_day: int) -> None:
        self.seed = seed
        self.bars_per_day = bars_per_day

    def limits(self, interval: str) -> Limits:
        # Same request spans as Yahoo (realistic object sizes), but no history horizon.
        return Limits(max_span=chart_limits(interval).max_span)

    def fetch(self, symbol: str, interval: str, window: Window) -> Fetched:
        bars = window_bars(self.seed, symbol, interval, window, self.bars_per_day)
        doc = chart_payload(
            symbol, interval, window, bars, previous_close(self.seed, symbol, window)
        )
        params = {**chart_params(interval, window), "seed": str(self.seed)}
        return Fetched(
            body=chart_body(doc),
            status=200,
            content_type="application/json",
            url=f"synthetic://chart/{symbol}?{urlencode(params, safe=',')}",
            params=params,
        )

    def describe(self) -> str:
        return f"synthetic (seed {self.seed})"
