"""Bronze layout, key parsing and the write-once, de-duplicating writer."""

import json
from datetime import UTC, date, datetime

import pytest

from medallion.common.storage import LocalStore
from medallion.ingestor.bronze import (
    BronzeWriter,
    list_bronze_objects,
    object_key,
    parse_bronze_key,
)
from medallion.ingestor.sources.base import Fetched, Window

pytestmark = pytest.mark.unit

SHA = "ab" * 32
WIN = Window(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC))


def fetched(body: bytes) -> Fetched:
    return Fetched(
        body,
        200,
        "application/json",
        "http://h/x?apikey=REDACTED",
        {"interval": "1d"},
        datetime(2026, 1, 6, 1, tzinfo=UTC),
    )


def test_key_layout_round_trips():
    key = object_key(
        "yahoo", "PETR4.SA", "1d", date(2026, 1, 5), "20260105-20260106", SHA
    )
    assert key == (
        "bronze/source=yahoo/symbol=PETR4.SA/interval=1d/ingest_date=2026-01-05/"
        f"20260105-20260106-{SHA}.json"
    )
    parsed = parse_bronze_key(key)
    assert parsed is not None
    assert (
        parsed.source,
        parsed.symbol,
        parsed.interval,
        parsed.ingest_date,
        parsed.run_id,
        parsed.sha256,
    ) == ("yahoo", "PETR4.SA", "1d", date(2026, 1, 5), "20260105-20260106", SHA)
    assert parsed.meta_key == key[: -len(".json")] + ".meta.json"
    assert parse_bronze_key(parsed.meta_key) is None
    assert (
        parse_bronze_key("bronze/_state/source=yahoo/symbol=A/interval=1d.json") is None
    )


def test_writer_stores_body_verbatim_with_metadata_and_skips_duplicates(tmp_path):
    store = LocalStore(tmp_path)
    body = b'{"chart": {"result": [], "error": null}}  '
    writer = BronzeWriter(store, "yahoo", "20260105-20260106", date(2026, 1, 5))
    first = writer.write("AAPL", "1d", WIN, fetched(body), "no_data", "empty")
    assert first.written
    assert store.get(first.key) == body
    meta = json.loads(store.get(first.key[:-5] + ".meta.json"))
    assert meta["sha256"] == first.sha256 and meta["bytes"] == len(body)
    assert meta["error"] == "no_data" and meta["error_message"] == "empty"
    assert meta["period_start"] == "2026-01-05T00:00:00+00:00"
    assert meta["run_id"] == "20260105-20260106" and meta["symbol"] == "AAPL"
    assert set(meta) >= {
        "url",
        "params",
        "status",
        "fetched_at",
        "source",
        "interval",
        "content_type",
    }
    # same bytes again, from another run and another ingest date: not written
    later = BronzeWriter(store, "yahoo", "20260107-20260108", date(2026, 1, 7))
    again = later.write("AAPL", "1d", WIN, fetched(body), "no_data", "empty")
    assert not again.written
    # other bytes, or the same bytes for another symbol, are written
    assert later.write("AAPL", "1d", WIN, fetched(body + b" "), None, None).written
    assert later.write("MSFT", "1d", WIN, fetched(body), None, None).written
    objects = list_bronze_objects(store)
    assert [(o.symbol, o.run_id) for o in objects] == [
        ("AAPL", "20260105-20260106"),
        ("AAPL", "20260107-20260108"),
        ("MSFT", "20260107-20260108"),
    ]
    assert list_bronze_objects(store, "synthetic") == []
