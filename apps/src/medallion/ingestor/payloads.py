"""Recognise what a market API response body is, without I/O (silver may reuse it).

Market APIs report many failures with HTTP 200: Yahoo puts ``chart.error`` in an
otherwise well-formed document, Alpha Vantage answers rate limits and bad keys with
``{"Information": ...}`` / ``{"Note": ...}`` / ``{"Error Message": ...}``, a CDN serves
an HTML outage page, a dropped connection leaves truncated JSON. Every body is stored
in bronze; :func:`classify` names the kind so nothing downstream indexes it blindly.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Error kinds recorded in bronze metadata ``error`` (None = a usable price payload).
EMPTY_BODY = "empty_body"
HTML_PAGE = "html_page"
TRUNCATED_JSON = "truncated_json"
NOT_JSON = "not_json"
CHART_ERROR = "chart_error"
NO_DATA = "no_data"
AV_INFORMATION = "av_information"
AV_NOTE = "av_note"
AV_ERROR_MESSAGE = "av_error_message"
HTTP_ERROR = "http_error"
UNEXPECTED_SHAPE = "unexpected_shape"
ERROR_KINDS = (
    EMPTY_BODY,
    HTML_PAGE,
    TRUNCATED_JSON,
    NOT_JSON,
    CHART_ERROR,
    NO_DATA,
    AV_INFORMATION,
    AV_NOTE,
    AV_ERROR_MESSAGE,
    HTTP_ERROR,
    UNEXPECTED_SHAPE,
)

AV_SERIES_PREFIX = "Time Series"
_MAX_MESSAGE = 300
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _short(text: object) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 1] + "…"


def _snippet(body: bytes) -> str:
    return _short(body[:_MAX_MESSAGE].decode("utf-8", "replace"))


def _looks_html(body: bytes, content_type: str | None) -> bool:
    head = body.lstrip()[:64].lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return True
    return bool(content_type and "html" in content_type.lower() and head.startswith(b"<"))


def parse_json(body: bytes) -> Any:
    """``json.loads`` that raises only ``ValueError`` (bad bytes, bad JSON, deep nesting)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def classify(
    body: bytes, status: int = 200, content_type: str | None = None
) -> tuple[str | None, str | None]:
    """(error kind or None, human-readable message) for one response body. Never raises."""
    ok_status = 200 <= status < 300
    if not body.strip():
        return EMPTY_BODY, f"HTTP {status} with an empty body"
    if _looks_html(body, content_type):
        match = _TITLE.search(body[:4096])
        title = html.unescape(match.group(1).decode("utf-8", "replace")) if match else ""
        return HTML_PAGE, _short(f"HTTP {status} HTML page: {title or _snippet(body)}")
    try:
        doc = parse_json(body)
    except ValueError as exc:
        if not ok_status:
            return HTTP_ERROR, _short(f"HTTP {status}: {_snippet(body)}")
        if body.lstrip()[:1] in (b"{", b"["):
            return TRUNCATED_JSON, _short(f"invalid or truncated JSON ({len(body)} bytes): {exc}")
        return NOT_JSON, _short(f"not JSON: {_snippet(body)}")

    kind, message = _classify_document(doc)
    if kind is None and not ok_status:
        return HTTP_ERROR, f"HTTP {status} with a well-formed body"
    if kind == UNEXPECTED_SHAPE and not ok_status:
        return HTTP_ERROR, _short(f"HTTP {status}: {_snippet(body)}")
    return kind, message


def _classify_document(doc: Any) -> tuple[str | None, str | None]:
    if not isinstance(doc, dict):
        return UNEXPECTED_SHAPE, f"top-level JSON {type(doc).__name__}, expected an object"
    if "chart" in doc or "finance" in doc:
        return _classify_yahoo(doc.get("chart", doc.get("finance")))
    for key, kind in (
        ("Error Message", AV_ERROR_MESSAGE),
        ("Information", AV_INFORMATION),
        ("Note", AV_NOTE),
    ):
        if key in doc:
            return kind, _short(doc[key])
    series = [k for k in doc if isinstance(k, str) and k.startswith(AV_SERIES_PREFIX)]
    if series:
        if not isinstance(doc[series[0]], dict):
            return UNEXPECTED_SHAPE, f"{series[0]!r} is not an object"
        return None, None
    return UNEXPECTED_SHAPE, _short(f"unknown JSON object with keys {sorted(map(str, doc))[:8]}")


def _classify_yahoo(chart: Any) -> tuple[str | None, str | None]:
    if not isinstance(chart, dict):
        return UNEXPECTED_SHAPE, "'chart' is not an object"
    error = chart.get("error")
    if error:
        if isinstance(error, dict):
            code = error.get("code", "error")
            return CHART_ERROR, _short(f"{code}: {error.get('description', '')}".rstrip(": "))
        return CHART_ERROR, _short(error)
    result = chart.get("result")
    if not result:
        return NO_DATA, "chart.result is empty and chart.error is null"
    if not isinstance(result, list) or not isinstance(result[0], dict):
        return UNEXPECTED_SHAPE, "chart.result is not a list of objects"
    for item in result:
        if not isinstance(item, dict):
            return UNEXPECTED_SHAPE, "chart.result is not a list of objects"
        if not isinstance(item.get("timestamp", []), list):
            return UNEXPECTED_SHAPE, "chart.result[].timestamp is not a list"
        indicators = item.get("indicators", {})
        if not isinstance(indicators, dict) or not isinstance(indicators.get("quote", []), list):
            return UNEXPECTED_SHAPE, "chart.result[].indicators.quote is not a list"
    return None, None


@dataclass(frozen=True)
class BodyStats:
    """What the ingestor needs from a usable body: bar count and the last bar's time."""

    bars: int
    last_bar: datetime | None


def body_stats(body: bytes) -> BodyStats:
    """Bars in a Yahoo-chart or Alpha Vantage body (0 for anything else). Never raises."""
    try:
        doc = parse_json(body)
    except ValueError:
        return BodyStats(0, None)
    if not isinstance(doc, dict):
        return BodyStats(0, None)
    chart = doc.get("chart")
    if isinstance(chart, dict):
        return _yahoo_stats(chart)
    for key, value in doc.items():
        if isinstance(key, str) and key.startswith(AV_SERIES_PREFIX) and isinstance(value, dict):
            return _av_stats(value)
    return BodyStats(0, None)


def _yahoo_stats(chart: dict[str, Any]) -> BodyStats:
    result = chart.get("result")
    if not isinstance(result, list):
        return BodyStats(0, None)
    stamps: list[int] = []
    for item in result:
        ts = item.get("timestamp") if isinstance(item, dict) else None
        if isinstance(ts, list):
            # bool is an int subclass; a JSON true is not a timestamp.
            stamps.extend(
                int(t) for t in ts if isinstance(t, int | float) and not isinstance(t, bool)
            )
    last = None
    if stamps:
        try:
            last = datetime.fromtimestamp(max(stamps), UTC)
        except (OverflowError, OSError, ValueError):
            last = None
    return BodyStats(len(stamps), last)


def _av_stats(series: dict[str, Any]) -> BodyStats:
    days = []
    for key in series:
        try:
            days.append(datetime.strptime(str(key)[:10], "%Y-%m-%d").replace(tzinfo=UTC))
        except ValueError:
            continue
    return BodyStats(len(series), max(days) if days else None)
