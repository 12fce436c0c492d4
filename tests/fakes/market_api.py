"""A local market API speaking Yahoo's chart format and Alpha Vantage's daily format,
with faults injected on demand. Bound to 127.0.0.1; data from the synthetic walk.

In tests::

    with FakeMarketApi() as api:
        api.inject(Fault("status", status=429, retry_after="1"), symbol="AAPL")
        config = load_config({"YAHOO_BASE_URL": api.base_url, ...})

From a shell (the benchmark, manual runs)::

    python -m tests.fakes.market_api --port 8765 --fault AAPL:status:503:3 --fault '*:slow'

Faults can also be added at run time: ``POST /__faults`` with a JSON
``{"kind": ..., "symbol": "*", "times": 1, "status": ..., "retry_after": ..., "delay": ...}``;
``GET /__requests`` lists what was asked; ``DELETE /__faults`` clears faults and log.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

from medallion.ingestor.sources.base import Window
from medallion.ingestor.sources.synthetic import (
    chart_body,
    chart_payload,
    day_bars,
    previous_close,
    window_bars,
)

logger = logging.getLogger(__name__)

FAULT_KINDS = (
    "status",  # `status` (default 503) with a short text body and optional Retry-After
    "html",  # an HTML outage page (status default 503)
    "chart_error",  # Yahoo's {"chart": {"result": null, "error": {...}}} with 404
    "no_data",  # Yahoo's result: [] / error: null
    "nulls",  # nulls inside the price arrays
    "truncated",  # the JSON body cut in half
    "empty",  # HTTP 200 with no body
    "slow",  # answer after `delay` seconds (past the client's timeout)
    "dup_last",  # the last bar repeated
    "events",  # a dividend and a 4:1 split in `events`
    "av_information",  # Alpha Vantage {"Information": ...} with 200 (rate limit / premium)
    "av_note",  # Alpha Vantage {"Note": ...} with 200
    "av_error",  # Alpha Vantage {"Error Message": ...} with 200
)

OUTAGE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    b"<body><h1>We'll be back soon</h1><p>The service is temporarily unavailable.</p>"
    b"</body></html>"
)
CHART_NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {
            "code": "Not Found",
            "description": "No data found, symbol may be delisted",
        },
    }
}


_KEEP = object()


@dataclass
class Fault:
    kind: str
    status: int | None = None
    retry_after: str | None = None
    delay: float = 2.0
    times: int | None = 1  # None: every matching request

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault {self.kind!r}; one of {', '.join(FAULT_KINDS)}"
            )


@dataclass
class RecordedRequest:
    path: str
    params: dict[str, str]
    symbol: str | None
    fault: str | None
    at: float = field(default_factory=time.monotonic)


class FakeMarketApi:
    """The server; a context manager. ``base_url`` is what YAHOO_BASE_URL and
    ALPHAVANTAGE_BASE_URL point at."""

    def __init__(
        self,
        *,
        seed: int = 42,
        bars_per_day: int = 1,
        port: int = 0,
        now: datetime | None = None,
    ) -> None:
        self.seed = seed
        self.bars_per_day = bars_per_day
        self.now = (
            now  # AV returns the latest 100 days before this (default wall clock)
        )
        self.requests: list[RecordedRequest] = []
        self._faults: list[tuple[str, Fault]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------
    def inject(
        self, fault: Fault, symbol: str = "*", times: int | None | object = _KEEP
    ) -> None:
        """Queue ``fault`` for ``symbol`` ("*" = any); ``times=None``: every request.

        Faults fire in injection order; a symbol's own faults and "*" ones share the queue.
        """
        if times is not _KEEP:
            fault.times = times  # type: ignore[assignment]
        with self._lock:
            self._faults.append((symbol.upper(), fault))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()

    def _take_fault(self, symbol: str | None) -> Fault | None:
        with self._lock:
            for i, (target, fault) in enumerate(self._faults):
                if target in ("*", (symbol or "").upper()):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            del self._faults[i]
                    return fault
        return None

    def requests_for(self, symbol: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.symbol == symbol]

    # -- responses -----------------------------------------------------------------------
    def respond(
        self, path: str, params: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        symbol: str | None = None
        if path.startswith("/v8/finance/chart/"):
            symbol = unquote(path[len("/v8/finance/chart/") :])
        elif path == "/query":
            symbol = params.get("symbol")
        fault = self._take_fault(symbol) if symbol else None
        with self._lock:
            self.requests.append(
                RecordedRequest(path, params, symbol, fault.kind if fault else None)
            )
        if symbol is None:
            return 404, {"Content-Type": "text/plain"}, b"Not Found"
        if fault is not None:
            early = _early_fault(fault)
            if early is not None:
                return early
        if path == "/query":
            return self._alphavantage(symbol, params, fault)
        return self._chart(symbol, params, fault)

    def _chart(
        self, symbol: str, params: dict[str, str], fault: Fault | None
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            start = datetime.fromtimestamp(int(params["period1"]), UTC)
            end = datetime.fromtimestamp(int(params["period2"]), UTC)
            interval = params.get("interval", "1d")
            window = Window(start, end)
        except (KeyError, ValueError):
            body = {
                "chart": {
                    "result": None,
                    "error": {"code": "Bad Request", "description": "Invalid input"},
                }
            }
            return 400, _JSON, json.dumps(body).encode()
        bars = window_bars(self.seed, symbol, interval, window, self.bars_per_day)
        doc = chart_payload(
            symbol, interval, window, bars, previous_close(self.seed, symbol, window)
        )
        kind = fault.kind if fault else None
        result = doc["chart"]["result"][0]
        quote = result["indicators"]["quote"][0]
        if kind == "nulls" and bars:
            for name in ("open", "high", "low", "close", "volume"):
                quote[name][len(bars) // 2] = None
        elif kind == "dup_last" and bars:
            result["timestamp"].append(result["timestamp"][-1])
            for name in quote:
                quote[name].append(quote[name][-1])
            for adj in result["indicators"].get("adjclose", []):
                adj["adjclose"].append(adj["adjclose"][-1])
        elif kind == "events" and bars:
            ts = bars[0].ts
            result["events"] = {
                "dividends": {str(ts): {"amount": 0.24, "date": ts}},
                "splits": {
                    str(ts): {
                        "date": ts,
                        "numerator": 4,
                        "denominator": 1,
                        "splitRatio": "4:1",
                    }
                },
            }
        body = chart_body(doc)
        if kind == "truncated":
            body = body[: max(1, len(body) // 2)]
        return 200, _JSON, body

    def _alphavantage(
        self, symbol: str, params: dict[str, str], fault: Fault | None
    ) -> tuple[int, dict[str, str], bytes]:
        if not params.get("apikey"):
            body = {"Error Message": "the parameter apikey is invalid or missing."}
            return 200, _JSON, json.dumps(body).encode()
        today = (self.now or datetime.now(UTC)).date()
        days: list[date] = []
        day = today - timedelta(days=1)
        limit = 100 if params.get("outputsize", "compact") == "compact" else 400
        while len(days) < limit:
            if day.weekday() < 5:
                days.append(day)
            day -= timedelta(days=1)
        series = {}
        for d in days:
            for b in day_bars(self.seed, symbol, "1d", d, 1):
                series[d.isoformat()] = {
                    "1. open": f"{b.open:.4f}",
                    "2. high": f"{b.high:.4f}",
                    "3. low": f"{b.low:.4f}",
                    "4. close": f"{b.close:.4f}",
                    "5. volume": str(b.volume),
                }
        doc = {
            "Meta Data": {
                "1. Information": "Daily Prices (open, high, low, close) and Volumes",
                "2. Symbol": symbol,
                "3. Last Refreshed": days[0].isoformat(),
                "4. Output Size": params.get("outputsize", "compact").capitalize(),
                "5. Time Zone": "US/Eastern",
            },
            "Time Series (Daily)": series,
        }
        body = json.dumps(doc, indent=4).encode()
        if fault is not None and fault.kind == "truncated":
            body = body[: len(body) // 2]
        return 200, _JSON, body


_JSON = {"Content-Type": "application/json;charset=utf-8"}


def _early_fault(fault: Fault) -> tuple[int, dict[str, str], bytes] | None:
    """Faults that replace the whole response (as opposed to altering the payload)."""
    if fault.kind == "slow":
        time.sleep(fault.delay)
        return None
    if fault.kind == "status":
        headers = {"Content-Type": "text/plain"}
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        status = fault.status or 503
        text = (
            b"Too Many Requests\r\n" if status == 429 else b"Internal Server Error\r\n"
        )
        return status, headers, text
    if fault.kind == "html":
        return (
            fault.status or 503,
            {"Content-Type": "text/html; charset=utf-8"},
            OUTAGE_PAGE,
        )
    if fault.kind == "chart_error":
        return fault.status or 404, _JSON, json.dumps(CHART_NOT_FOUND).encode()
    if fault.kind == "no_data":
        return 200, _JSON, json.dumps({"chart": {"result": [], "error": None}}).encode()
    if fault.kind == "empty":
        return fault.status or 200, _JSON, b""
    av = {
        "av_information": {
            "Information": "We have detected your API key as demo and our standard API rate "
            "limit is 25 requests per day. Please subscribe to any of the premium plans."
        },
        "av_note": {
            "Note": "Thank you for using Alpha Vantage! Our standard API call frequency is "
            "5 calls per minute and 500 calls per day."
        },
        "av_error": {
            "Error Message": "Invalid API call. Please retry or visit the documentation."
        },
    }
    if fault.kind in av:
        return 200, _JSON, json.dumps(av[fault.kind]).encode()
    return None


def _handler_for(api: FakeMarketApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("fake api: " + format, *args)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): expected for "slow" faults

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {
                k: v[-1]
                for k, v in parse_qs(parts.query, keep_blank_values=True).items()
            }
            if parts.path == "/__requests":
                with api._lock:
                    rows = [asdict(r) for r in api.requests]
                self._send(200, _JSON, json.dumps(rows).encode())
                return
            self._send(*api.respond(parts.path, params))

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/__faults":
                self._send(404, {}, b"")
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                spec = json.loads(self.rfile.read(length) or b"{}")
                symbol = spec.pop("symbol", "*")
                api.inject(Fault(**spec), symbol=symbol)
            except (TypeError, ValueError) as exc:
                self._send(400, {"Content-Type": "text/plain"}, str(exc).encode())
                return
            self._send(204, {}, b"")

        def do_DELETE(self) -> None:
            api.clear()
            self._send(204, {}, b"")

    return Handler


def parse_fault(text: str) -> tuple[str, Fault]:
    """``SYMBOL:kind[:status][:times]`` (times 0 = always), e.g. ``AAPL:status:429:2``."""
    parts = text.split(":")
    if len(parts) < 2:
        raise argparse.ArgumentTypeError("fault is SYMBOL:kind[:status][:times]")
    symbol, kind = parts[0] or "*", parts[1]
    status = int(parts[2]) if len(parts) > 2 and parts[2] else None
    times = int(parts[3]) if len(parts) > 3 else 1
    try:
        return symbol, Fault(kind, status=status, times=times or None)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextmanager
def running(**kwargs: object) -> Iterator[FakeMarketApi]:
    with FakeMarketApi(**kwargs) as api:  # type: ignore[arg-type]
        yield api


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.market_api",
        description="Local fake of the Yahoo chart and Alpha Vantage APIs on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bars-per-day", type=int, default=1)
    parser.add_argument(
        "--fault",
        action="append",
        type=parse_fault,
        default=[],
        help=f"SYMBOL:kind[:status][:times], kinds: {', '.join(FAULT_KINDS)}",
    )
    args = parser.parse_args(argv)
    api = FakeMarketApi(seed=args.seed, bars_per_day=args.bars_per_day, port=args.port)
    for symbol, fault in args.fault:
        api.inject(fault, symbol=symbol)
    print(f"fake market API on {api.base_url} (Ctrl-C stops)", flush=True)
    try:
        api._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api._server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
