"""classify() and body_stats(): every error body the APIs are known to send, and
property tests that no byte string can make them crash."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medallion.ingestor.payloads import ERROR_KINDS, body_stats, classify

pytestmark = pytest.mark.unit

CHART_OK = {
    "chart": {
        "result": [
            {
                "meta": {"symbol": "AAPL", "exchangeTimezoneName": "America/New_York"},
                "timestamp": [1767623400, 1767709800],
                "indicators": {"quote": [{"open": [1.0, None], "close": [1.5, 2.0]}]},
            }
        ],
        "error": None,
    }
}


def _b(doc) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("body", "status", "ctype", "kind", "fragment"),
    [
        (_b(CHART_OK), 200, "application/json", None, None),
        (b"", 200, None, "empty_body", "empty"),
        (b"   \n", 200, None, "empty_body", "empty"),
        (
            b"<!DOCTYPE html><html><head><title>Service Unavailable</title>",
            503,
            "text/html",
            "html_page",
            "Service Unavailable",
        ),
        (b"<html><body>oops</body></html>", 200, None, "html_page", "oops"),
        (_b(CHART_OK)[:40], 200, "application/json", "truncated_json", "truncated"),
        (b"Too Many Requests\r\n", 429, "text/plain", "http_error", "429"),
        (b"hello", 200, "text/plain", "not_json", "hello"),
        (
            _b(
                {
                    "chart": {
                        "result": None,
                        "error": {
                            "code": "Not Found",
                            "description": "No data found, symbol may be delisted",
                        },
                    }
                }
            ),
            404,
            "application/json",
            "chart_error",
            "delisted",
        ),
        (
            _b({"finance": {"result": None, "error": {"code": "Bad Request"}}}),
            400,
            None,
            "chart_error",
            "Bad Request",
        ),
        (_b({"chart": {"result": [], "error": None}}), 200, None, "no_data", None),
        (
            _b({"chart": {"result": "x", "error": None}}),
            200,
            None,
            "unexpected_shape",
            None,
        ),
        (
            _b({"chart": {"result": [{"timestamp": 5}], "error": None}}),
            200,
            None,
            "unexpected_shape",
            "timestamp",
        ),
        (
            _b({"Information": "premium endpoint"}),
            200,
            None,
            "av_information",
            "premium",
        ),
        (_b({"Note": "5 calls per minute"}), 200, None, "av_note", "5 calls"),
        (
            _b({"Error Message": "Invalid API call"}),
            200,
            None,
            "av_error_message",
            "Invalid",
        ),
        (
            _b(
                {
                    "Meta Data": {},
                    "Time Series (Daily)": {"2026-01-05": {"1. open": "1"}},
                }
            ),
            200,
            None,
            None,
            None,
        ),
        (
            _b({"Meta Data": {}, "Time Series (Daily)": []}),
            200,
            None,
            "unexpected_shape",
            None,
        ),
        (_b([1, 2, 3]), 200, None, "unexpected_shape", "list"),
        (_b({"foo": 1}), 200, None, "unexpected_shape", "foo"),
        (_b({"foo": 1}), 500, None, "http_error", "500"),
        (_b(CHART_OK), 503, None, "http_error", "503"),
    ],
)
def test_classify_recognises_known_bodies(body, status, ctype, kind, fragment):
    got_kind, message = classify(body, status, ctype)
    assert got_kind == kind
    if fragment is not None:
        assert fragment in message


def test_classify_survives_deep_nesting():
    assert classify(b"[" * 100_000, 200, None)[0] in (
        "truncated_json",
        "unexpected_shape",
    )


def test_body_stats_counts_bars_and_last_bar():
    stats = body_stats(_b(CHART_OK))
    assert stats.bars == 2
    assert stats.last_bar == datetime.fromtimestamp(1767709800, UTC)


def test_body_stats_alphavantage():
    doc = {"Time Series (Daily)": {"2026-01-05": {}, "2026-01-07": {}, "junk": {}}}
    stats = body_stats(_b(doc))
    assert stats.bars == 3
    assert stats.last_bar == datetime(2026, 1, 7, tzinfo=UTC)


def test_body_stats_ignores_non_numeric_timestamps():
    doc = {"chart": {"result": [{"timestamp": [True, "x", None, 1767623400]}]}}
    assert body_stats(_b(doc)).bars == 1


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "chart",
                    "result",
                    "error",
                    "timestamp",
                    "indicators",
                    "quote",
                    "Note",
                    "Information",
                    "Error Message",
                    "Time Series (Daily)",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=512),
    status=st.integers(100, 599),
    ctype=st.none() | st.text(max_size=30),
)
def test_classify_never_crashes_on_bytes(body, status, ctype):
    kind, message = classify(body, status, ctype)
    assert kind is None or kind in ERROR_KINDS
    assert kind is None or isinstance(message, str)
    body_stats(body)


@settings(max_examples=300, deadline=None)
@given(doc=json_values, status=st.sampled_from([200, 404, 429, 503]))
def test_classify_never_crashes_on_json_shapes(doc, status):
    body = json.dumps(doc).encode()
    kind, _ = classify(body, status, "application/json")
    assert kind is None or kind in ERROR_KINDS
    stats = body_stats(body)
    assert stats.bars >= 0
    if kind is None and status == 200:
        # Accepted bodies are price documents, never something else indexed blindly.
        assert isinstance(doc, dict)
