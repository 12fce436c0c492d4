"""Retry/backoff/Retry-After, token bucket and circuit breaker, with a fake clock."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from medallion.common.config import HttpSettings
from medallion.ingestor.http import (
    BreakerOpen,
    CircuitBreaker,
    FetchFailed,
    HttpClient,
    RawResponse,
    TokenBucket,
    TransportError,
    backoff_delay,
    parse_retry_after,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class ScriptedTransport:
    """Returns (or raises) the scripted outcomes in order; the last one repeats."""

    def __init__(self, *outcomes) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, dict, float]] = []

    def __call__(self, url, params, timeout):
        self.calls.append((url, dict(params), timeout))
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def ok(body=b"{}") -> RawResponse:
    return RawResponse(200, body, {"content-type": "application/json"})


def client(transport, clock=None, **settings) -> HttpClient:
    clock = clock or FakeClock()
    cfg = HttpSettings(
        **{
            "timeout_s": 3.0,
            "max_retries": 3,
            "rate_per_s": 1000.0,
            "concurrency": 1,
            "breaker_threshold": 5,
            **settings,
        }
    )
    return HttpClient(
        cfg, transport, sleep=clock.sleep, clock=clock, rng=random.Random(7)
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        (" 12 ", 12.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("-3", None),
        ("1.5", None),
    ],
)
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(header, now) == pytest.approx(30)
    past = format_datetime(now - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(past, now) == 0.0


def test_backoff_grows_with_jitter_and_is_capped():
    rng = random.Random(1)
    for attempt in range(8):
        ceiling = min(4.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, rng, base=0.5, cap=4.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter


def test_token_bucket_spaces_requests_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, capacity=1, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire()
    # first token is free, then one every 0.5 s
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_token_bucket_refills_after_idle_time():
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, capacity=2, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.acquire()
    clock.t += 10
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(1.0)


def test_breaker_opens_after_consecutive_failures_and_success_resets():
    breaker = CircuitBreaker(3)
    breaker.record_failure("a")
    breaker.record_failure("b")
    breaker.record_success()
    breaker.record_failure("c")
    breaker.record_failure("d")
    assert not breaker.is_open
    breaker.record_failure("e")
    assert breaker.is_open
    with pytest.raises(BreakerOpen, match="3 consecutive failures"):
        breaker.check()


def test_429_with_retry_after_is_honoured_then_succeeds():
    clock = FakeClock()
    transport = ScriptedTransport(
        RawResponse(429, b"Too Many Requests", {"retry-after": "4"}), ok(b'{"ok":1}')
    )
    c = client(transport, clock)
    resp = c.get("http://x/v8/finance/chart/AAPL", {"interval": "1d"})
    assert resp.status == 200 and resp.body == b'{"ok":1}'
    assert clock.sleeps == [4.0]
    assert c.stats.requests == 2 and c.stats.retries == 1
    assert all(call[2] == 3.0 for call in transport.calls)  # timeout on every call


def test_retry_after_beyond_budget_stops_retrying():
    clock = FakeClock()
    transport = ScriptedTransport(
        RawResponse(503, b"busy", {"retry-after": "3600"}), ok()
    )
    resp = client(transport, clock).get("http://x", {})
    assert resp.status == 503 and len(transport.calls) == 1 and clock.sleeps == []


def test_5xx_retries_are_bounded_and_return_last_error_response():
    clock = FakeClock()
    transport = ScriptedTransport(RawResponse(502, b"bad gateway"))
    c = client(transport, clock, max_retries=2, breaker_threshold=100)
    resp = c.get("http://x", {})
    assert resp.status == 502 and len(transport.calls) == 3
    assert len(clock.sleeps) == 2 and clock.sleeps[1] > clock.sleeps[0] / 2


def test_breaker_trips_during_a_storm_and_refuses_further_calls():
    clock = FakeClock()
    transport = ScriptedTransport(RawResponse(503, b"down"))
    c = client(transport, clock, max_retries=10, breaker_threshold=4)
    resp = c.get("http://x", {})
    assert resp.status == 503 and len(transport.calls) == 4 and c.breaker.is_open
    with pytest.raises(BreakerOpen):
        c.get("http://x", {"symbol": "MSFT"})
    assert len(transport.calls) == 4


def test_transport_errors_end_in_fetch_failed_without_leaking_key():
    clock = FakeClock()
    transport = ScriptedTransport(TransportError("connection", "refused"))
    c = client(transport, clock, max_retries=2, breaker_threshold=100)
    with pytest.raises(FetchFailed, match="3 attempts") as info:
        c.get("http://x/query?apikey=SECRET", {})
    assert "SECRET" not in str(info.value)
    assert c.stats.transport_errors == 3


def test_timeout_then_success():
    clock = FakeClock()
    transport = ScriptedTransport(TransportError("timeout", "timed out"), ok())
    assert client(transport, clock).get("http://x", {}).status == 200
    assert len(clock.sleeps) == 1


def test_non_retryable_status_is_returned_at_once_and_resets_breaker():
    transport = ScriptedTransport(RawResponse(404, b'{"chart":{}}'))
    c = client(transport, max_retries=5)
    c.breaker.record_failure("earlier")
    assert c.get("http://x", {}).status == 404
    assert len(transport.calls) == 1
    assert c.breaker._consecutive == 0
