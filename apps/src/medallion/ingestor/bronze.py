"""Bronze layout and the write-once writer.

    bronze/source=<src>/symbol=<S>/interval=<I>/ingest_date=<D>/<run>-<sha256>.json
    bronze/source=<src>/symbol=<S>/interval=<I>/ingest_date=<D>/<run>-<sha256>.meta.json

The body is stored verbatim. The metadata object is written *before* the body, so a
reader that finds a body always finds its metadata (an orphan metadata object after a
crash is harmless: the retry writes the body next to it).

De-duplication: a body whose sha256 already exists anywhere under the same
source/symbol/interval prefix (any run, any ingest date) is not written again. The
set of known hashes comes from one listing of that prefix per run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date

from medallion.common import faults
from medallion.common.storage import ObjectStore
from medallion.ingestor.sources.base import Fetched, Window

logger = logging.getLogger(__name__)

BRONZE = "bronze"
_KEY = re.compile(
    r"^bronze/source=(?P<source>[^/]+)/symbol=(?P<symbol>[^/]+)/interval=(?P<interval>[^/]+)"
    r"/ingest_date=(?P<ingest_date>\d{4}-\d{2}-\d{2})/(?P<run_id>[^/]+)-(?P<sha256>[0-9a-f]{64})"
    r"\.json$"
)


@dataclass(frozen=True)
class BronzeKey:
    source: str
    symbol: str
    interval: str
    ingest_date: date
    run_id: str
    sha256: str
    key: str

    @property
    def meta_key(self) -> str:
        return meta_key_for(self.key)


def meta_key_for(key: str) -> str:
    return key[: -len(".json")] + ".meta.json"


def series_prefix(source: str, symbol: str | None = None, interval: str | None = None) -> str:
    """``bronze/source=<src>/[symbol=<S>/[interval=<I>/]]`` (always ends with ``/``)."""
    prefix = f"{BRONZE}/source={source}/"
    if symbol is not None:
        prefix += f"symbol={symbol}/"
        if interval is not None:
            prefix += f"interval={interval}/"
    return prefix


def object_key(
    source: str, symbol: str, interval: str, ingest_date: date, run_id: str, sha256: str
) -> str:
    return (
        f"{series_prefix(source, symbol, interval)}ingest_date={ingest_date.isoformat()}/"
        f"{run_id}-{sha256}.json"
    )


def parse_bronze_key(key: str) -> BronzeKey | None:
    """The parts of a bronze *data* object key; None for metadata, state or other keys."""
    match = _KEY.match(key)
    if match is None:
        return None
    try:
        day = date.fromisoformat(match["ingest_date"])
    except ValueError:
        return None
    return BronzeKey(
        match["source"],
        match["symbol"],
        match["interval"],
        day,
        match["run_id"],
        match["sha256"],
        key,
    )


def list_bronze_objects(store: ObjectStore, source: str | None = None) -> list[BronzeKey]:
    """Every bronze data object (not metadata, not ``_state``), sorted by key."""
    prefix = series_prefix(source) if source else f"{BRONZE}/source="
    return [k for k in map(parse_bronze_key, store.list(prefix)) if k is not None]


@dataclass(frozen=True)
class WriteOutcome:
    key: str
    sha256: str
    written: bool  # False: the same bytes were already in bronze for this series


class BronzeWriter:
    """Writes one run's responses; thread-safe (each series is written by one worker)."""

    def __init__(self, store: ObjectStore, source: str, run_id: str, ingest_date: date) -> None:
        self.store = store
        self.source = source
        self.run_id = run_id
        self.ingest_date = ingest_date
        self._hashes: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def known_hashes(self, symbol: str, interval: str) -> set[str]:
        prefix = series_prefix(self.source, symbol, interval)
        with self._lock:
            known = self._hashes.get(prefix)
        if known is None:
            # List outside the lock: worker threads list their own series in parallel.
            listed = {k.sha256 for k in map(parse_bronze_key, self.store.list(prefix)) if k}
            with self._lock:
                known = self._hashes.setdefault(prefix, listed)
        return known

    def write(
        self,
        symbol: str,
        interval: str,
        window: Window,
        fetched: Fetched,
        error: str | None,
        error_message: str | None,
    ) -> WriteOutcome:
        sha = hashlib.sha256(fetched.body).hexdigest()
        key = object_key(self.source, symbol, interval, self.ingest_date, self.run_id, sha)
        hashes = self.known_hashes(symbol, interval)
        if sha in hashes:
            logger.debug("duplicate body skipped", extra={"symbol": symbol, "sha256": sha})
            return WriteOutcome(key, sha, written=False)
        meta = {
            "url": fetched.url,
            "params": dict(fetched.params),
            "status": fetched.status,
            "fetched_at": fetched.fetched_at.astimezone(UTC).isoformat(),
            "sha256": sha,
            "bytes": len(fetched.body),
            "source": self.source,
            "symbol": symbol,
            "interval": interval,
            "run_id": self.run_id,
            "ingest_date": self.ingest_date.isoformat(),
            "content_type": fetched.content_type,
            "error": error,
            "error_message": error_message,
            "period_start": window.start.astimezone(UTC).isoformat(),
            "period_end": window.end.astimezone(UTC).isoformat(),
        }
        self.store.put_if_absent(
            meta_key_for(key), json.dumps(meta, indent=1).encode(), "application/json"
        )
        faults.point("ingest.after_meta")
        written = self.store.put_if_absent(key, fetched.body, _body_type(fetched.content_type))
        with self._lock:
            hashes.add(sha)
        return WriteOutcome(key, sha, written=written)


def _body_type(content_type: str | None) -> str:
    # The object is named .json whatever came back; keep the real type for humans.
    return content_type or "application/octet-stream"
