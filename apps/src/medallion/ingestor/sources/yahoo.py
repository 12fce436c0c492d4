"""Yahoo Finance chart API (unofficial): ``/v8/finance/chart/{symbol}``."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from medallion.ingestor.http import HttpClient
from medallion.ingestor.sources.base import Fetched, Limits, Source, Window, http_fetch

# Yahoo's documented-by-experience limits: intraday history is short and each request
# may only span so much. Chunks stay a little under the hard limits.
_LIMITS = {
    "1m": Limits(max_span=timedelta(days=7), horizon=timedelta(days=30)),
    "2m": Limits(max_span=timedelta(days=59), horizon=timedelta(days=60)),
    "5m": Limits(max_span=timedelta(days=59), horizon=timedelta(days=60)),
    "15m": Limits(max_span=timedelta(days=59), horizon=timedelta(days=60)),
    "30m": Limits(max_span=timedelta(days=59), horizon=timedelta(days=60)),
    "1h": Limits(max_span=timedelta(days=365), horizon=timedelta(days=730)),
    "1d": Limits(),
}


def chart_limits(interval: str) -> Limits:
    return _LIMITS.get(interval, Limits())


def chart_params(interval: str, window: Window) -> dict[str, str]:
    return {
        "period1": str(int(window.start.timestamp())),
        "period2": str(int(window.end.timestamp())),
        "interval": interval,
        "events": "div,splits",
        "includePrePost": "false",
    }


class YahooSource(Source):
    name = "yahoo"

    def __init__(self, base_url: str, client: HttpClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client

    def limits(self, interval: str) -> Limits:
        return chart_limits(interval)

    def fetch(self, symbol: str, interval: str, window: Window) -> Fetched:
        url = f"{self.base_url}/v8/finance/chart/{quote(symbol, safe='')}"
        params = chart_params(interval, window)
        return http_fetch(self.client, url, params)

    def describe(self) -> str:
        return f"yahoo at {self.base_url}"
