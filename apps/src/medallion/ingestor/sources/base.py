"""The one interface every market data source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from medallion.ingestor.redact import redact_params, request_url

if TYPE_CHECKING:
    from medallion.ingestor.http import HttpClient

BAR_LENGTH = {
    "1m": timedelta(minutes=1),
    "2m": timedelta(minutes=2),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}


class SourceError(Exception):
    """A request the source cannot serve (interval unsupported, beyond its horizon)."""


@dataclass(frozen=True, order=True)
class Window:
    """Half-open UTC time range [start, end) of one request."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Window bounds must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError(f"empty window [{self.start}, {self.end})")

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass(frozen=True)
class Limits:
    """What one request may ask for: ``max_span`` per call, ``horizon`` back from now."""

    max_span: timedelta | None = None
    horizon: timedelta | None = None


@dataclass(frozen=True)
class Fetched:
    """One response, ready for bronze. ``url``/``params`` are already redacted."""

    body: bytes
    status: int
    content_type: str | None
    url: str
    params: Mapping[str, str]
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def http_fetch(client: HttpClient, url: str, params: Mapping[str, str]) -> Fetched:
    """GET ``url`` with ``params`` through ``client``; the result records the request
    with every secret parameter (API keys) redacted."""
    resp = client.get(url, params)
    return Fetched(
        body=resp.body,
        status=resp.status,
        content_type=resp.content_type,
        url=request_url(url, params),
        params=redact_params(params),
    )


class Source(ABC):
    name: str
    #: Live sources only have recent intraday history; synthetic has everything.
    live: bool = True
    #: False when the API ignores a time range (Alpha Vantage returns a whole series).
    ranged: bool = True

    def limits(self, interval: str) -> Limits:
        return Limits()

    def check_interval(self, interval: str) -> None:
        if interval not in BAR_LENGTH:
            raise SourceError(f"{self.name} does not serve bar interval {interval!r}")

    @abstractmethod
    def fetch(self, symbol: str, interval: str, window: Window) -> Fetched:
        """One request. May raise ``http.BreakerOpen`` / ``http.FetchFailed``."""

    def describe(self) -> str:
        return self.name
