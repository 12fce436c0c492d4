"""Helpers that write bronze objects (Yahoo / Alpha Vantage bodies + sidecars) directly.

For tests, demos and notebooks that need bronze without running the ingestor: the
objects follow the bronze layout and sidecar of medallion.ingestor.bronze exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

Number = float | int | str | None


def yahoo_body(
    symbol: str,
    timestamps: Sequence[int | str | None],
    opens: Sequence[Number],
    highs: Sequence[Number],
    lows: Sequence[Number],
    closes: Sequence[Number],
    volumes: Sequence[Number],
    adjcloses: Sequence[Number] | None = None,
    tz: str | None = "America/New_York",
    gmtoffset: int | None = -18000,
    currency: str = "USD",
    granularity: str = "1d",
) -> dict[str, Any]:
    indicators: dict[str, Any] = {
        "quote": [
            {
                "open": list(opens),
                "high": list(highs),
                "low": list(lows),
                "close": list(closes),
                "volume": list(volumes),
            }
        ]
    }
    if adjcloses is not None:
        indicators["adjclose"] = [{"adjclose": list(adjcloses)}]
    return {
        "chart": {
            "result": [
                {
                    "meta": {
                        "symbol": symbol,
                        "currency": currency,
                        "exchangeTimezoneName": tz,
                        "gmtoffset": gmtoffset,
                        "timezone": "X",
                        "dataGranularity": granularity,
                    },
                    "timestamp": list(timestamps),
                    "events": {},
                    "indicators": indicators,
                }
            ],
            "error": None,
        }
    }


def yahoo_error_body(code: str = "Not Found", description: str = "No data found") -> dict:
    return {"chart": {"result": None, "error": {"code": code, "description": description}}}


def write_bronze(
    store: Any,
    body: dict[str, Any] | bytes | str,
    *,
    symbol: str,
    ingest_date: date,
    source: str = "yahoo",
    interval: str = "1d",
    run_id: str | None = None,
    fetched_at: datetime | None = None,
    error: str | None = None,
    error_message: str | None = None,
) -> str:
    """Write one body + ``.meta.json`` sidecar; returns the data object's key."""
    if isinstance(body, dict):
        data = json.dumps(body).encode()
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body
    sha = hashlib.sha256(data).hexdigest()
    run = run_id or f"{ingest_date:%Y%m%d}-run"
    base = (
        f"bronze/source={source}/symbol={symbol}/interval={interval}/"
        f"ingest_date={ingest_date.isoformat()}/{run}-{sha}"
    )
    fetched = fetched_at or datetime.combine(ingest_date, datetime.min.time(), tzinfo=UTC)
    meta = {
        "url": f"http://fake/v8/finance/chart/{symbol}",
        "params": {"interval": interval},
        "status": 200,
        "fetched_at": fetched.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "sha256": sha,
        "bytes": len(data),
        "source": source,
        "symbol": symbol,
        "interval": interval,
        "run_id": run,
        "content_type": "application/json",
        "error": error,
        "error_message": error_message,
    }
    store.put_if_absent(base + ".json", data)
    store.put_if_absent(base + ".meta.json", json.dumps(meta).encode())
    return base + ".json"


def content_hash(rows: Any, drop: Sequence[str] = ()) -> str:
    """Canonical sha256 of rows (Spark Rows, dicts or tuples): order-independent."""
    canon = []
    for row in rows:
        if hasattr(row, "asDict"):
            row = row.asDict()
        if isinstance(row, dict):
            row = {k: v for k, v in row.items() if k not in drop}
            items = sorted(row.items())
        else:
            items = list(enumerate(row))
        canon.append(json.dumps(items, default=str))
    return hashlib.sha256("\n".join(sorted(canon)).encode()).hexdigest()
