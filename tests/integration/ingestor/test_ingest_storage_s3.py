"""S3Store and the ingest job against a real MinIO (fixtures from tests/conftest.py)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from medallion.common.config import load_config
from medallion.common.intervals import Interval
from medallion.common.storage import ObjectNotFound, S3Store, store_from_config
from medallion.ingestor.bronze import list_bronze_objects
from medallion.ingestor.job import run_ingest

pytestmark = pytest.mark.integration


def s3_config(minio_server, bucket, root_suffix="", **env):
    base = minio_server.env(bucket)
    base["LAKE_ROOT"] += root_suffix
    return load_config({**base, **env})


def test_s3_store_semantics(minio_server, s3_bucket):
    store = store_from_config(s3_config(minio_server, s3_bucket, "/lake-prefix"))
    assert isinstance(store, S3Store)
    assert store.put_if_absent("bronze/a/1.json", b"one")
    assert not store.put_if_absent("bronze/a/1.json", b"other")
    assert store.get("bronze/a/1.json") == b"one"
    assert store.exists("bronze/a/1.json") and not store.exists("bronze/a/2.json")
    with pytest.raises(ObjectNotFound):
        store.get("bronze/a/2.json")
    store.put("bronze/_state/s.json", b"1")
    store.put("bronze/_state/s.json", b"2")
    assert store.get("bronze/_state/s.json") == b"2"
    # keys are relative to the root prefix, which lives in the bucket
    raw = minio_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert {o["Key"] for o in raw} == {
        "lake-prefix/bronze/a/1.json",
        "lake-prefix/bronze/_state/s.json",
    }
    assert (
        store.uri("bronze/a/1.json") == f"s3a://{s3_bucket}/lake-prefix/bronze/a/1.json"
    )


def test_s3_put_if_absent_is_atomic_on_the_server(minio_server, s3_bucket, monkeypatch):
    store = store_from_config(s3_config(minio_server, s3_bucket))
    assert store.put_if_absent("k.json", b"first")
    # Simulate losing the HEAD-then-PUT race: the conditional PUT must still refuse.
    monkeypatch.setattr(store, "exists", lambda key: False)
    assert not store.put_if_absent("k.json", b"second")
    assert store.get("k.json") == b"first"


def test_s3_list_paginates_and_sorts(minio_server, s3_bucket):
    cfg = s3_config(minio_server, s3_bucket)
    store = store_from_config(cfg)
    assert isinstance(store, S3Store)
    small_pages = S3Store(store.client, store.bucket, "", page_size=2)
    keys = [f"p/{i:02d}.json" for i in (5, 3, 1, 4, 2)] + ["q/0.json"]
    for key in keys:
        small_pages.put_if_absent(key, b"x")
    assert small_pages.list("p/") == sorted(k for k in keys if k.startswith("p/"))
    assert small_pages.list("") == sorted(keys)
    assert small_pages.list("nothing/") == []


def test_ingest_into_s3_is_idempotent(minio_server, s3_bucket):
    cfg = s3_config(
        minio_server, s3_bucket, MARKET_SOURCE="synthetic", WATCHLIST="AAPL,7203.T"
    )
    week = Interval(date(2026, 1, 5), date(2026, 1, 10))
    first = run_ingest(cfg, week)
    assert first.objects_written == 2
    store = store_from_config(cfg)
    objects = list_bronze_objects(store)
    assert len(objects) == 2
    meta = json.loads(store.get(objects[0].meta_key))
    assert meta["sha256"] == objects[0].sha256 and meta["bytes"] == len(
        store.get(objects[0].key)
    )
    second = run_ingest(cfg, week)
    assert second.requests == 0 and second.objects_written == 0
    # even with the watermarks gone, identical bodies are not written twice
    for key in store.list("bronze/_state/"):
        minio_server.client().delete_object(Bucket=s3_bucket, Key=key)
    third = run_ingest(cfg, week)
    assert third.duplicates_skipped == 2 and third.objects_written == 0
    assert len(list_bronze_objects(store)) == 2
