import threading

import pytest

from medallion.common.config import load_config
from medallion.common.storage import (
    LocalStore,
    ObjectNotFound,
    S3Store,
    store_from_config,
)

pytestmark = pytest.mark.unit


def test_put_if_absent_is_write_once(tmp_path):
    store = LocalStore(tmp_path)
    assert store.put_if_absent("a/b.json", b"1")
    assert not store.put_if_absent("a/b.json", b"2")
    assert store.get("a/b.json") == b"1"
    assert not list((tmp_path / "a").glob(".tmp-*"))


def test_concurrent_put_if_absent_has_exactly_one_winner(tmp_path):
    store = LocalStore(tmp_path)
    wins = []
    threads = [
        threading.Thread(
            target=lambda i=i: wins.append(
                store.put_if_absent("k/x.json", str(i).encode())
            )
        )
        for i in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_put_replaces_and_list_is_sorted_by_string_prefix(tmp_path):
    store = LocalStore(tmp_path)
    store.put("s/state.json", b"1")
    store.put("s/state.json", b"2")
    for key in ("b/2.json", "b/1.json", "bb/1.json", "b/c/3.json"):
        store.put_if_absent(key, b"x")
    assert store.get("s/state.json") == b"2"
    assert store.list("b/") == ["b/1.json", "b/2.json", "b/c/3.json"]
    assert store.list("b") == ["b/1.json", "b/2.json", "b/c/3.json", "bb/1.json"]
    assert store.list("nope/") == []
    assert store.exists("b/1.json") and not store.exists("b/9.json")
    with pytest.raises(ObjectNotFound):
        store.get("b/9.json")
    assert store.uri("b/1.json") == str(tmp_path / "b/1.json")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a\\b"])
def test_keys_cannot_escape_the_root(tmp_path, key):
    with pytest.raises(ValueError):
        LocalStore(tmp_path).put(key, b"x")


def test_store_from_config(tmp_path):
    assert isinstance(
        store_from_config(load_config({"LAKE_ROOT": str(tmp_path)})), LocalStore
    )
    s3 = store_from_config(
        load_config(
            {
                "LAKE_ROOT": "s3://lake/pre",
                "S3_ENDPOINT_URL": "http://127.0.0.1:9",
                "AWS_ACCESS_KEY_ID": "a",
                "AWS_SECRET_ACCESS_KEY": "b",
            }
        )
    )
    assert isinstance(s3, S3Store) and s3.bucket == "lake" and s3.prefix == "pre/"
    assert s3.uri("bronze/x.json") == "s3a://lake/pre/bronze/x.json"
    assert s3.client.meta.config.s3["addressing_style"] == "path"
