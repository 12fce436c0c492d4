"""A polite, bounded HTTP client for market APIs.

Every call has a timeout; transient failures (transport errors, 408/429/5xx) are
retried a bounded number of times with exponential backoff and jitter, honouring
``Retry-After``; a token bucket shared by all worker threads caps the request rate;
a per-run circuit breaker stops calling a source that keeps failing so a dead API
fails the run quickly instead of after ``symbols x retries x timeout`` seconds.

Clock, sleep and randomness are injected so tests never really wait.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from medallion.common.config import HttpSettings
from medallion.ingestor.redact import is_secret, redact_text, redact_url

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class TransportError(Exception):
    """No HTTP response at all: connection refused, DNS, TLS, timeout."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "timeout" | "connection"


class BreakerOpen(Exception):
    """The run's circuit breaker is open: the source failed too many times in a row."""


class FetchFailed(Exception):
    """Retries exhausted without any HTTP response (nothing to store)."""


@dataclass(frozen=True)
class RawResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    url: str = ""

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


class Transport(Protocol):
    def __call__(self, url: str, params: Mapping[str, str], timeout: float) -> RawResponse: ...


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(attempt: int, rng: random.Random, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random.

    Some jitter keeps concurrent workers from retrying in lock-step; the fixed
    half guarantees the wait actually grows with each attempt.
    """
    ceiling = min(cap, base * (2**attempt))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class TokenBucket:
    """Rate limiter shared across threads: ``rate`` tokens/s, burst ``capacity``.

    A caller reserves a token under the lock (the balance may go negative) and then
    sleeps outside it, so waiting threads queue up fairly without holding the lock.
    """

    def __init__(
        self,
        rate: float,
        capacity: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; seconds the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; stays open for the rest of the run."""

    def __init__(self, threshold: int) -> None:
        self.threshold = max(1, threshold)
        self._consecutive = 0
        self._open = False
        self.last_failure: str | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._open

    def check(self) -> None:
        if self._open:
            raise BreakerOpen(
                f"circuit breaker open after {self.threshold} consecutive failures "
                f"(last: {self.last_failure})"
            )

    def record_success(self) -> None:
        with self._lock:
            self._consecutive = 0

    def record_failure(self, reason: str) -> None:
        with self._lock:
            self._consecutive += 1
            self.last_failure = reason
            if self._consecutive >= self.threshold and not self._open:
                self._open = True
                logger.error(
                    "circuit breaker opened",
                    extra={"failures": self._consecutive, "last_failure": reason},
                )


class CurlTransport:
    """curl_cffi with browser TLS impersonation: Yahoo answers 429 to non-browser clients.

    curl handles are not thread-safe, so each worker thread gets its own session.
    """

    def __init__(self, impersonate: str | None = "chrome") -> None:
        self.impersonate = impersonate
        self._local = threading.local()

    def _session(self):  # noqa: ANN202 - curl_cffi type is internal
        session = getattr(self._local, "session", None)
        if session is None:
            from curl_cffi import requests as curl_requests

            session = curl_requests.Session(impersonate=self.impersonate)
            self._local.session = session
        return session

    def __call__(self, url: str, params: Mapping[str, str], timeout: float) -> RawResponse:
        from curl_cffi.requests.exceptions import RequestException, Timeout

        secrets = tuple(v for k, v in params.items() if is_secret(k))
        try:
            resp = self._session().get(url, params=dict(params), timeout=timeout)
        except Timeout:
            raise TransportError("timeout", f"timed out after {timeout}s") from None
        except RequestException as exc:
            # curl's messages can echo the full URL, query string (API key) included.
            raise TransportError("connection", redact_text(str(exc), secrets)) from None
        headers = {k.lower(): v for k, v in resp.headers.items()}
        return RawResponse(resp.status_code, resp.content, headers, str(resp.url))


@dataclass
class HttpStats:
    requests: int = 0  # attempts actually sent
    retries: int = 0
    transport_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


class HttpClient:
    """GET with timeout, bounded retries, backoff honouring Retry-After, rate and breaker."""

    def __init__(
        self,
        settings: HttpSettings,
        transport: Transport | None = None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        limiter: TokenBucket | None = None,
        breaker: CircuitBreaker | None = None,
        max_retry_after: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self.settings = settings
        self.transport: Transport = transport or CurlTransport()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.limiter = limiter or TokenBucket(settings.rate_per_s, 1.0, clock, sleep)
        self.breaker = breaker or CircuitBreaker(settings.breaker_threshold)
        self.max_retry_after = max_retry_after
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stats = HttpStats()
        self._rng_lock = threading.Lock()

    def _delay(self, attempt: int, response: RawResponse | None) -> float | None:
        """Seconds before the next attempt, or None when retrying is pointless."""
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None:
                # A server asking for more patience than we budget: stop, don't hammer.
                return retry_after if retry_after <= self.max_retry_after else None
        with self._rng_lock:
            return backoff_delay(attempt, self.rng, self.backoff_base, self.backoff_cap)

    def get(self, url: str, params: Mapping[str, str]) -> RawResponse:
        """The final response (possibly an error status: it is data too).

        Raises :class:`BreakerOpen` if the breaker is (or goes) open before any
        response was had, :class:`FetchFailed` when every attempt failed in transport.
        """
        safe_url = redact_url(url)
        last_error: TransportError | None = None
        for attempt in range(self.settings.max_retries + 1):
            self.breaker.check()
            self.limiter.acquire()
            self.stats.add(requests=1, retries=1 if attempt else 0)
            response: RawResponse | None = None
            try:
                response = self.transport(url, params, self.settings.timeout_s)
            except TransportError as exc:
                last_error = exc
                self.stats.add(transport_errors=1)
                self.breaker.record_failure(f"{exc.kind}: {safe_url}")
                logger.warning(
                    "request failed",
                    extra={"url": safe_url, "attempt": attempt + 1, "error": exc.kind},
                )
            else:
                if response.status not in RETRYABLE_STATUS:
                    self.breaker.record_success()
                    return response
                self.breaker.record_failure(f"HTTP {response.status}: {safe_url}")
                logger.warning(
                    "retryable status",
                    extra={"url": safe_url, "attempt": attempt + 1, "status": response.status},
                )
            if attempt == self.settings.max_retries or self.breaker.is_open:
                break
            delay = self._delay(attempt, response)
            if delay is None:
                break
            self.sleep(delay)
        if response is not None:
            return response  # the last error answer: stored in bronze as an error body
        self.breaker.check()
        raise FetchFailed(
            f"GET {safe_url} failed after {self.settings.max_retries + 1} attempts: {last_error}"
        )
