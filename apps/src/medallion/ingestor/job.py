"""The ingest job: for each watchlist symbol, fetch what bronze is missing and store it.

Wiring only: planning, HTTP, classification and storage live in their own modules.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from medallion.common import faults
from medallion.common.config import Config
from medallion.common.intervals import Interval
from medallion.common.logs import log_summary
from medallion.common.progress import Progress
from medallion.common.storage import ObjectStore, store_from_config
from medallion.ingestor.bronze import BronzeWriter
from medallion.ingestor.http import (
    RETRYABLE_STATUS,
    BreakerOpen,
    FetchFailed,
    HttpClient,
    Transport,
)
from medallion.ingestor.payloads import BodyStats, body_stats, classify
from medallion.ingestor.planner import plan
from medallion.ingestor.sources.alphavantage import AlphaVantageSource
from medallion.ingestor.sources.base import BAR_LENGTH, Source, SourceError, Window
from medallion.ingestor.sources.synthetic import SyntheticSource
from medallion.ingestor.sources.yahoo import YahooSource
from medallion.ingestor.state import StateStore

logger = logging.getLogger(__name__)

OFFLINE_HINT = "Offline or blocked? Use MARKET_SOURCE=synthetic (or `make run SOURCE=synthetic`)."


class SourceUnavailable(Exception):
    """The source could not be reached or kept failing (exit code 3). Carries the result."""

    def __init__(self, message: str, result: IngestResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class SymbolResult:
    symbol: str
    windows: int = 0
    written: int = 0
    duplicates: int = 0
    bars: int = 0
    bars_written: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    failure: str | None = None


@dataclass
class IngestResult:
    source: str
    run_id: str
    interval: str
    bar_interval: str
    symbols: int = 0
    requests: int = 0  # fetches made (one per planned window)
    http_attempts: int = 0  # HTTP calls including retries (0 for synthetic)
    objects_written: int = 0
    duplicates_skipped: int = 0
    bars_fetched: int = 0
    bars_written: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    failed_symbols: dict[str, str] = field(default_factory=dict)
    breaker_open: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed_symbols and not self.breaker_open

    def summary(self) -> dict[str, Any]:
        """The contract's summary line (stage, rows_in, rows_out, quarantined, seconds)
        followed by the ingest-specific counts."""
        return {
            "stage": "ingest",
            "rows_in": self.bars_fetched,
            "rows_out": self.bars_written,
            "quarantined": sum(self.errors_by_kind.values()),
            "seconds": round(self.seconds, 3),
            "source": self.source,
            "run_id": self.run_id,
            "interval": self.interval,
            "bar_interval": self.bar_interval,
            "symbols": self.symbols,
            "requests": self.requests,
            "http_attempts": self.http_attempts,
            "objects_written": self.objects_written,
            "duplicates_skipped": self.duplicates_skipped,
            "errors": dict(sorted(self.errors_by_kind.items())),
            "failed_symbols": self.failed_symbols,
            "breaker_open": self.breaker_open,
        }


def build_source(
    config: Config,
    name: str | None = None,
    *,
    transport: Transport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> Source:
    name = name or config.market_source
    if name == "synthetic":
        return SyntheticSource(config.synthetic_seed, config.synthetic_bars_per_day)
    client = HttpClient(config.http, transport, sleep=sleep)
    if name == "yahoo":
        return YahooSource(config.yahoo_base_url, client)
    if name == "alphavantage":
        if not config.alphavantage_api_key:
            raise SourceError("ALPHAVANTAGE_API_KEY is required for the alphavantage source")
        return AlphaVantageSource(
            config.alphavantage_base_url, config.alphavantage_api_key, client, now=now
        )
    raise SourceError(f"unknown source {name!r}: use yahoo, alphavantage or synthetic")


class _Ingest:
    """One run's shared pieces, used from the worker threads."""

    def __init__(
        self, config: Config, source: Source, store: ObjectStore, interval: Interval, now: datetime
    ) -> None:
        self.config = config
        self.source = source
        self.interval = interval
        self.now = now
        self.bar_interval = config.bar_interval
        self.states = StateStore(store)
        self.writer = BronzeWriter(store, source.name, interval.run_id, interval.start)

    def plan_symbol(self, symbol: str) -> list[Window]:
        state = self.states.load(self.source.name, symbol, self.bar_interval)
        return plan(
            Window(self.interval.start_utc, self.interval.end_utc),
            list(state.ranges),
            bar=BAR_LENGTH[self.bar_interval],
            limits=self.source.limits(self.bar_interval),
            now=self.now,
            live=self.source.live,
            ranged=self.source.ranged,
            label=f"{self.source.name} {self.bar_interval} bars",
        )

    def ingest_symbol(self, symbol: str, windows: list[Window]) -> SymbolResult:
        out = SymbolResult(symbol)
        for window in windows:
            try:
                fetched = self.source.fetch(symbol, self.bar_interval, window)
            except BreakerOpen as exc:
                out.failure = str(exc)
                break  # every further call would be refused too
            except FetchFailed as exc:
                out.failure = str(exc)
                continue  # later windows may still work; the gap stays uncovered
            out.windows += 1
            kind, message = classify(fetched.body, fetched.status, fetched.content_type)
            stats = body_stats(fetched.body) if kind is None else BodyStats(0, None)
            stored = self.writer.write(symbol, self.bar_interval, window, fetched, kind, message)
            out.bars += stats.bars
            if stored.written:
                out.written += 1
                out.bars_written += stats.bars
            else:
                out.duplicates += 1
            if kind is not None:
                out.errors[kind] += 1
                logger.warning(
                    "error body stored",
                    extra={
                        "symbol": symbol,
                        "error": kind,
                        "detail": message,
                        "status": fetched.status,
                        "key": stored.key,
                    },
                )
                if fetched.status in RETRYABLE_STATUS:
                    out.failure = f"HTTP {fetched.status} after retries ({kind}: {message})"
                continue
            # Only now that the body is in bronze does the watermark move.
            faults.point("ingest.after_body")
            state = self.states.load(self.source.name, symbol, self.bar_interval)
            self.states.save(state.covering(window, stats.last_bar, self.interval.run_id))
        logger.info(
            "symbol done",
            extra={
                "symbol": symbol,
                "windows": out.windows,
                "written": out.written,
                "duplicates": out.duplicates,
                "bars": out.bars,
                "errors": dict(out.errors),
                "failure": out.failure,
            },
        )
        return out


def run_ingest(
    config: Config,
    interval: Interval,
    *,
    source: str | Source | None = None,
    now: datetime | None = None,
    store: ObjectStore | None = None,
    transport: Transport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> IngestResult:
    """Ingest ``config.watchlist`` for ``interval`` into bronze.

    ``source`` overrides ``MARKET_SOURCE`` (a name, or a ready :class:`Source` for
    tests); ``now`` bounds what a live source is asked for (default: wall clock).
    Raises :class:`SourceError` for requests the source cannot serve (before any
    request is made) and :class:`SourceUnavailable` when the source failed.
    """
    started = time.monotonic()
    now = now or datetime.now(UTC)
    src = (
        source
        if isinstance(source, Source)
        else build_source(config, source, transport=transport, sleep=sleep, now=now)
    )
    src.check_interval(config.bar_interval)
    store = store or store_from_config(config)
    job = _Ingest(config, src, store, interval, now)
    symbols = list(config.watchlist)
    result = IngestResult(
        src.name, interval.run_id, str(interval), config.bar_interval, len(symbols)
    )
    logger.info(
        "ingest starting",
        extra={
            "source": src.describe(),
            "interval": str(interval),
            "symbols": len(symbols),
            "bar_interval": config.bar_interval,
            "lake": repr(store),
        },
    )
    workers = max(1, min(config.http.concurrency, len(symbols)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        # Plan everything first: a request beyond the API's horizon fails the run
        # before anything is fetched.
        plans = list(pool.map(job.plan_symbol, symbols))
        if not any(plans):
            logger.info("nothing to fetch: bronze already covers the interval")
        with Progress("ingest", len(symbols), "symbols fetched") as progress:

            def fetch(symbol: str, windows: list[Window]) -> SymbolResult:
                out = job.ingest_symbol(symbol, windows)
                progress.advance(1, symbol)
                return out

            outcomes = list(pool.map(fetch, symbols, plans))

    errors: Counter[str] = Counter()
    for out in outcomes:
        result.requests += out.windows
        result.objects_written += out.written
        result.duplicates_skipped += out.duplicates
        result.bars_fetched += out.bars
        result.bars_written += out.bars_written
        errors.update(out.errors)
        if out.failure:
            result.failed_symbols[out.symbol] = out.failure
    result.errors_by_kind = dict(errors)
    client = getattr(src, "client", None)
    if isinstance(client, HttpClient):
        result.http_attempts = client.stats.requests
        result.breaker_open = client.breaker.is_open
    result.seconds = time.monotonic() - started
    log_summary(logger, **result.summary())
    if not result.ok:
        failed = ", ".join(sorted(result.failed_symbols)) or "-"
        first = next(iter(result.failed_symbols.values()), "")
        reason = "circuit breaker open" if result.breaker_open else "requests failed"
        raise SourceUnavailable(
            f"{src.describe()}: {reason} for {len(result.failed_symbols)} of {len(symbols)} "
            f"symbols ({failed}); first error: {first}. {OFFLINE_HINT}",
            result,
        )
    return result
