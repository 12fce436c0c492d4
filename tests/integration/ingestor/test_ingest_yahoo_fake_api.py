"""The real HTTP path (curl_cffi) against the fake Yahoo chart API, faults injected.

Each test asserts what lands in bronze (objects + metadata) and what the run reports.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime

import pytest

from medallion.common.config import load_config
from medallion.common.intervals import Interval
from medallion.common.storage import LocalStore
from medallion.ingestor import cli
from medallion.ingestor.bronze import list_bronze_objects
from medallion.ingestor.job import SourceUnavailable, run_ingest
from medallion.ingestor.sources.base import SourceError
from medallion.ingestor.state import StateStore
from tests.fakes.market_api import Fault

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 20, 12, tzinfo=UTC)
WEEK = Interval(date(2026, 1, 5), date(2026, 1, 10))


def cfg(tmp_path, api, **env):
    base = {
        "LAKE_ROOT": str(tmp_path),
        "MARKET_SOURCE": "yahoo",
        "YAHOO_BASE_URL": api.base_url,
        "WATCHLIST": "AAPL",
        "HTTP_TIMEOUT_S": "2",
        "HTTP_MAX_RETRIES": "3",
        "HTTP_RATE_PER_S": "1000",
        "HTTP_CONCURRENCY": "2",
        "HTTP_BREAKER_THRESHOLD": "5",
    }
    return load_config({**base, **env})


def bronze(tmp_path):
    """[(symbol, body bytes, meta dict)] for every bronze data object."""
    store = LocalStore(tmp_path)
    return [
        (o.symbol, store.get(o.key), json.loads(store.get(o.meta_key)))
        for o in list_bronze_objects(store)
    ]


def test_clean_week_lands_verbatim_with_metadata(tmp_path, market_api, sleeps):
    result = run_ingest(cfg(tmp_path, market_api), WEEK, now=NOW, sleep=sleeps)
    [(symbol, body, meta)] = bronze(tmp_path)
    assert symbol == "AAPL" and meta["error"] is None and meta["status"] == 200
    doc = json.loads(body)["chart"]["result"][0]
    assert len(doc["timestamp"]) == 5 and doc["meta"]["exchangeTimezoneName"]
    assert meta["url"].startswith(
        market_api.base_url + "/v8/finance/chart/AAPL?period1="
    )
    assert meta["params"] == {
        "period1": "1767571200",
        "period2": "1768003200",
        "interval": "1d",
        "events": "div,splits",
        "includePrePost": "false",
    }
    assert meta["content_type"].startswith("application/json")
    assert (result.requests, result.http_attempts, result.objects_written) == (1, 1, 1)
    assert result.bars_fetched == 5
    # the request the server saw
    [req] = market_api.requests_for("AAPL")
    assert req.params["interval"] == "1d" and req.params["events"] == "div,splits"


def test_429_with_retry_after_then_success(tmp_path, market_api, sleeps):
    market_api.inject(
        Fault("status", status=429, retry_after="1"), symbol="AAPL", times=2
    )
    result = run_ingest(cfg(tmp_path, market_api), WEEK, now=NOW, sleep=sleeps)
    assert sleeps.calls == [1.0, 1.0]  # Retry-After honoured, not exponential guesses
    assert result.http_attempts == 3 and result.ok
    [(_, _, meta)] = bronze(tmp_path)  # only the final answer is stored
    assert meta["status"] == 200 and meta["error"] is None


def test_5xx_storm_trips_the_breaker_and_fails_the_run(tmp_path, market_api, sleeps):
    market_api.inject(Fault("status", status=503), symbol="*", times=None)
    config = cfg(
        tmp_path,
        market_api,
        WATCHLIST="AAPL,MSFT,NVDA,AMZN",
        HTTP_CONCURRENCY="1",
        HTTP_MAX_RETRIES="10",
        HTTP_BREAKER_THRESHOLD="3",
    )
    with pytest.raises(SourceUnavailable, match="circuit breaker open") as info:
        run_ingest(config, WEEK, now=NOW, sleep=sleeps)
    assert "MARKET_SOURCE=synthetic" in str(info.value)
    result = info.value.result
    assert result.breaker_open and len(result.failed_symbols) == 4
    assert (
        len(market_api.requests) == 3
    )  # nobody called the API after the breaker opened
    [(symbol, body, meta)] = bronze(tmp_path)  # the last error answer is data too
    assert meta["status"] == 503 and meta["error"] == "http_error"
    assert body == b"Internal Server Error\r\n"
    assert StateStore(LocalStore(tmp_path)).load("yahoo", symbol, "1d").ranges == ()


def test_chart_error_is_stored_and_reported_not_indexed(tmp_path, market_api, sleeps):
    market_api.inject(Fault("chart_error"), symbol="ZZZZ", times=None)
    config = cfg(tmp_path, market_api, WATCHLIST="AAPL,ZZZZ")
    result = run_ingest(config, WEEK, now=NOW, sleep=sleeps)
    assert result.ok and result.errors_by_kind == {"chart_error": 1}
    assert result.bars_fetched == 5  # only AAPL's bars count
    rows = {s: (b, m) for s, b, m in bronze(tmp_path)}
    body, meta = rows["ZZZZ"]
    assert meta["status"] == 404 and meta["error"] == "chart_error"
    assert "symbol may be delisted" in meta["error_message"]
    assert json.loads(body)["chart"]["error"]["code"] == "Not Found"
    # no watermark for the failed symbol: the next run asks again, and dedupes the body
    assert StateStore(LocalStore(tmp_path)).load("yahoo", "ZZZZ", "1d").ranges == ()
    again = run_ingest(config, WEEK, now=NOW, sleep=sleeps)
    assert (
        again.requests == 1
        and again.duplicates_skipped == 1
        and again.objects_written == 0
    )


def test_nulls_inside_arrays_are_stored_verbatim(tmp_path, market_api, sleeps):
    market_api.inject(Fault("nulls"), symbol="AAPL")
    result = run_ingest(cfg(tmp_path, market_api), WEEK, now=NOW, sleep=sleeps)
    [(_, body, meta)] = bronze(tmp_path)
    quote = json.loads(body)["chart"]["result"][0]["indicators"]["quote"][0]
    assert quote["close"][2] is None and quote["volume"][2] is None
    assert meta["error"] is None and result.bars_fetched == 5


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault("truncated"), "truncated_json"),
        (Fault("html", status=200), "html_page"),
        (Fault("empty"), "empty_body"),
        (Fault("no_data"), "no_data"),
    ],
)
def test_broken_bodies_with_200_are_recognised(
    tmp_path, market_api, sleeps, fault, kind
):
    market_api.inject(fault, symbol="AAPL")
    result = run_ingest(cfg(tmp_path, market_api), WEEK, now=NOW, sleep=sleeps)
    [(_, body, meta)] = bronze(tmp_path)
    assert (
        meta["error"] == kind and meta["status"] == 200 and meta["bytes"] == len(body)
    )
    assert result.errors_by_kind == {kind: 1} and result.bars_fetched == 0
    assert result.ok  # recorded, not a source outage; the watermark did not move
    assert StateStore(LocalStore(tmp_path)).load("yahoo", "AAPL", "1d").ranges == ()


def test_html_outage_page_that_persists_fails_the_symbol(tmp_path, market_api, sleeps):
    market_api.inject(Fault("html"), symbol="AAPL", times=None)  # 503 + HTML
    config = cfg(
        tmp_path, market_api, HTTP_MAX_RETRIES="2", HTTP_BREAKER_THRESHOLD="50"
    )
    with pytest.raises(SourceUnavailable) as info:
        run_ingest(config, WEEK, now=NOW, sleep=sleeps)
    assert info.value.result.failed_symbols.keys() == {"AAPL"}
    assert len(sleeps.calls) == 2  # backoff between the 3 attempts
    [(_, body, meta)] = bronze(tmp_path)
    assert meta["error"] == "html_page" and b"Service Unavailable" in body


def test_slow_response_past_the_timeout_is_retried(tmp_path, market_api, sleeps):
    market_api.inject(Fault("slow", delay=2.0), symbol="AAPL")
    config = cfg(tmp_path, market_api, HTTP_TIMEOUT_S="0.4")
    started = time.monotonic()
    result = run_ingest(config, WEEK, now=NOW, sleep=sleeps)
    assert (
        time.monotonic() - started < 1.9
    )  # gave up on the slow answer, did not wait it out
    assert result.http_attempts == 2 and result.ok and result.objects_written == 1


def test_timeouts_everywhere_fail_with_a_clear_error(tmp_path, market_api, sleeps):
    market_api.inject(Fault("slow", delay=1.0), symbol="AAPL", times=None)
    config = cfg(tmp_path, market_api, HTTP_TIMEOUT_S="0.2", HTTP_MAX_RETRIES="1")
    with pytest.raises(SourceUnavailable, match="timed out") as info:
        run_ingest(config, WEEK, now=NOW, sleep=sleeps)
    assert bronze(tmp_path) == []  # no response, nothing to store
    assert info.value.result.http_attempts == 2


def test_duplicated_last_bar_is_stored_as_served(tmp_path, market_api, sleeps):
    market_api.inject(Fault("dup_last"), symbol="AAPL")
    result = run_ingest(cfg(tmp_path, market_api), WEEK, now=NOW, sleep=sleeps)
    [(_, body, meta)] = bronze(tmp_path)
    stamps = json.loads(body)["chart"]["result"][0]["timestamp"]
    assert stamps[-1] == stamps[-2] and meta["error"] is None
    assert result.bars_fetched == 6  # as served; silver de-duplicates


def test_split_and_dividend_events_are_kept(tmp_path, market_api, sleeps):
    market_api.inject(Fault("events"), symbol="AAPL")
    run_ingest(cfg(tmp_path, market_api), WEEK, now=NOW, sleep=sleeps)
    [(_, body, meta)] = bronze(tmp_path)
    events = json.loads(body)["chart"]["result"][0]["events"]
    assert next(iter(events["splits"].values()))["splitRatio"] == "4:1"
    assert next(iter(events["dividends"].values()))["amount"] == 0.24
    assert meta["error"] is None


def test_incremental_runs_ask_only_for_the_missing_part(tmp_path, market_api, sleeps):
    config = cfg(tmp_path, market_api)
    run_ingest(config, WEEK, now=NOW, sleep=sleeps)
    run_ingest(config, WEEK, now=NOW, sleep=sleeps)  # rerun: no request at all
    assert len(market_api.requests) == 1
    run_ingest(
        config, Interval(date(2026, 1, 10), date(2026, 1, 14)), now=NOW, sleep=sleeps
    )
    second = market_api.requests[-1].params
    assert datetime.fromtimestamp(int(second["period1"]), UTC) == datetime(
        2026, 1, 9, tzinfo=UTC
    )
    assert datetime.fromtimestamp(int(second["period2"]), UTC) == datetime(
        2026, 1, 14, tzinfo=UTC
    )


def test_today_is_clipped_to_now_and_resumed_later(tmp_path, market_api, sleeps):
    config = cfg(tmp_path, market_api, BAR_INTERVAL="5m")
    market_api.bars_per_day = 78
    today = Interval(date(2026, 1, 20), date(2026, 1, 21))
    run_ingest(config, today, now=datetime(2026, 1, 20, 16, tzinfo=UTC), sleep=sleeps)
    run_ingest(config, today, now=datetime(2026, 1, 20, 22, tzinfo=UTC), sleep=sleeps)
    first, second = (r.params for r in market_api.requests)
    assert int(first["period2"]) == int(
        datetime(2026, 1, 20, 16, tzinfo=UTC).timestamp()
    )
    # resumes at the last stored bar (15:55 UTC), not at midnight
    assert int(second["period1"]) == int(
        datetime(2026, 1, 20, 15, 55, tzinfo=UTC).timestamp()
    )
    assert int(second["period2"]) == int(
        datetime(2026, 1, 20, 22, tzinfo=UTC).timestamp()
    )


def test_one_minute_requests_are_chunked_and_horizon_enforced(
    tmp_path, market_api, sleeps
):
    config = cfg(tmp_path, market_api, BAR_INTERVAL="1m")
    run_ingest(
        config, Interval(date(2026, 1, 1), date(2026, 1, 17)), now=NOW, sleep=sleeps
    )
    spans = [
        int(r.params["period2"]) - int(r.params["period1"]) for r in market_api.requests
    ]
    assert len(spans) == 3 and max(spans) <= 7 * 86400
    market_api.clear()
    with pytest.raises(SourceError, match="30 days"):
        run_ingest(
            config,
            Interval(date(2025, 11, 1), date(2025, 11, 3)),
            now=NOW,
            sleep=sleeps,
        )
    assert market_api.requests == []  # refused before any call


def test_rate_limit_spaces_requests_across_threads(tmp_path, market_api):
    config = cfg(
        tmp_path,
        market_api,
        WATCHLIST="A,B,C,D,E,F",
        HTTP_RATE_PER_S="10",
        HTTP_CONCURRENCY="3",
    )
    started = time.monotonic()
    run_ingest(config, WEEK, now=NOW)  # real sleeps here: the rate is the point
    assert (
        time.monotonic() - started >= 0.45
    )  # 6 requests at 10/s: >= 0.5 s minus slack
    times = sorted(r.at for r in market_api.requests)
    # arrival order jitters with thread scheduling, the overall pace does not
    assert times[-1] - times[0] >= 0.4


def test_unreachable_api_suggests_synthetic(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path))
    monkeypatch.setenv("MARKET_SOURCE", "yahoo")
    monkeypatch.setenv("YAHOO_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WATCHLIST", "AAPL,MSFT")
    monkeypatch.setenv("HTTP_MAX_RETRIES", "0")
    monkeypatch.setenv("HTTP_TIMEOUT_S", "1")
    code = cli.main(["--date", "2026-01-05"])
    err = capsys.readouterr().err
    assert code == 3
    assert "MARKET_SOURCE=synthetic" in err and "make run SOURCE=synthetic" in err
    assert '"stage": "ingest"' in err  # the summary line is still logged
