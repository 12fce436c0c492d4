"""Ingestor watermarks: which time ranges of (source, symbol, bar interval) are in bronze.

A single "last bar" watermark cannot express a backfill of an earlier range, so the
state keeps the merged list of covered ranges, each with the last bar seen in it.
It lives at ``bronze/_state/source=<src>/symbol=<S>/interval=<I>.json`` and is
replaced (not appended) after each stored response; bronze itself stays write-once.

Concurrent runs of the same symbol can race on this object (last writer wins). The
worst case is a range fetched again; bronze de-duplication by content hash absorbs it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from medallion.common.storage import ObjectNotFound, ObjectStore
from medallion.ingestor.sources.base import Window

logger = logging.getLogger(__name__)

STATE_PREFIX = "bronze/_state"


@dataclass(frozen=True, order=True)
class Covered:
    start: datetime
    end: datetime
    last_bar: datetime | None = field(default=None, compare=False)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def merge(ranges: list[Covered], new: Covered) -> list[Covered]:
    """Insert ``new`` and merge overlapping or touching ranges. Pure."""
    merged: list[Covered] = []
    for item in sorted([*ranges, new]):
        if merged and item.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Covered(
                last.start, max(last.end, item.end), _later(last.last_bar, item.last_bar)
            )
        else:
            merged.append(item)
    return merged


def subtract(window: Window, ranges: list[Covered]) -> list[Window]:
    """The parts of ``window`` no covered range contains, in time order. Pure."""
    pieces: list[Window] = []
    cursor = window.start
    for item in sorted(ranges):
        if item.end <= cursor or item.start >= window.end:
            continue
        if item.start > cursor:
            pieces.append(Window(cursor, min(item.start, window.end)))
        cursor = max(cursor, item.end)
        if cursor >= window.end:
            break
    if cursor < window.end:
        pieces.append(Window(cursor, window.end))
    return pieces


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


@dataclass(frozen=True)
class IngestState:
    source: str
    symbol: str
    interval: str
    ranges: tuple[Covered, ...] = ()
    updated_run: str | None = None

    @property
    def last_bar(self) -> datetime | None:
        bars = [r.last_bar for r in self.ranges if r.last_bar is not None]
        return max(bars) if bars else None

    def covering(self, window: Window, last_bar: datetime | None, run_id: str) -> IngestState:
        ranges = merge(list(self.ranges), Covered(window.start, window.end, last_bar))
        return replace(self, ranges=tuple(ranges), updated_run=run_id)

    def to_json(self) -> bytes:
        doc = {
            "source": self.source,
            "symbol": self.symbol,
            "interval": self.interval,
            "last_bar": _iso(self.last_bar),
            "covered": [
                {"start": _iso(r.start), "end": _iso(r.end), "last_bar": _iso(r.last_bar)}
                for r in self.ranges
            ],
            "updated_run": self.updated_run,
        }
        return json.dumps(doc, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> IngestState:
        doc = json.loads(data)
        ranges = tuple(
            Covered(_parse(r["start"]), _parse(r["end"]), _parse(r.get("last_bar")))  # type: ignore[arg-type]
            for r in doc.get("covered", [])
        )
        return cls(doc["source"], doc["symbol"], doc["interval"], ranges, doc.get("updated_run"))


def state_key(source: str, symbol: str, interval: str) -> str:
    return f"{STATE_PREFIX}/source={source}/symbol={symbol}/interval={interval}.json"


class StateStore:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def load(self, source: str, symbol: str, interval: str) -> IngestState:
        key = state_key(source, symbol, interval)
        try:
            return IngestState.from_json(self.store.get(key))
        except ObjectNotFound:
            return IngestState(source, symbol, interval)
        except (ValueError, KeyError, TypeError) as exc:
            # A corrupt watermark must not block ingestion: start over; dedupe saves bronze.
            logger.warning("unreadable state %s (%s); starting from scratch", key, exc)
            return IngestState(source, symbol, interval)

    def save(self, state: IngestState) -> None:
        self.store.put(state_key(state.source, state.symbol, state.interval), state.to_json())
