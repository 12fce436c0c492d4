"""Alpha Vantage daily series: the keyed alternative to Yahoo.

The API key comes from ``ALPHAVANTAGE_API_KEY`` (via Config) and only ever travels in
the request itself: bronze metadata and logs get the redacted URL and parameters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from medallion.ingestor.http import HttpClient
from medallion.ingestor.sources.base import Fetched, Source, SourceError, Window, http_fetch

# Alpha Vantage spells exchange suffixes its own way.
_SUFFIXES = {".SA": ".SAO", ".L": ".LON", ".TO": ".TRT", ".DE": ".DEX"}
# outputsize=compact returns the latest 100 trading days (~140 calendar days).
_COMPACT_SPAN = timedelta(days=140)


def av_symbol(symbol: str) -> str:
    for suffix, replacement in _SUFFIXES.items():
        if symbol.endswith(suffix):
            return symbol[: -len(suffix)] + replacement
    return symbol


class AlphaVantageSource(Source):
    name = "alphavantage"
    ranged = False  # the daily series endpoint has no date range: one call per symbol

    def __init__(
        self,
        base_url: str,
        api_key: str,
        client: HttpClient,
        function: str = "TIME_SERIES_DAILY",
        now: datetime | None = None,
    ) -> None:
        if not api_key:
            raise SourceError("ALPHAVANTAGE_API_KEY is required for MARKET_SOURCE=alphavantage")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.client = client
        self.function = function
        self._now = now

    def __repr__(self) -> str:  # never show the key
        return f"AlphaVantageSource({self.base_url!r}, function={self.function!r})"

    def check_interval(self, interval: str) -> None:
        if interval != "1d":
            raise SourceError(
                f"alphavantage serves daily bars only; set BAR_INTERVAL=1d (got {interval!r})"
            )

    def fetch(self, symbol: str, interval: str, window: Window) -> Fetched:
        now = self._now or datetime.now(UTC)
        params = {
            "function": self.function,
            "symbol": av_symbol(symbol),
            "outputsize": "compact" if window.start >= now - _COMPACT_SPAN else "full",
            "datatype": "json",
            "apikey": self._api_key,
        }
        url = f"{self.base_url}/query"
        return http_fetch(self.client, url, params)

    def describe(self) -> str:
        return f"alphavantage at {self.base_url}"
