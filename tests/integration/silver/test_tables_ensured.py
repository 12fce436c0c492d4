"""tables_ensured: the tables a first load creates are created in a background thread
while the caller reads its input; existing tables are brought to spec before it does;
a failed creation is never lost and no creation outlives the block. The transform's
first load writes only once its tables exist."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from datetime import date

import pytest
from pyspark.sql.types import LongType, StructField, StructType

from medallion.common import delta
from medallion.common.config import load_config
from medallion.common.delta import TableSpec, is_delta_table, table_properties, tables_ensured
from medallion.common.intervals import Interval
from medallion.common.storage import store_from_config
from medallion.transformer import job
from medallion.transformer.testing import write_bronze, yahoo_body

D1 = date(2024, 1, 2)
BASE = 1704205800  # 2024-01-02 14:30 UTC
SPEC = TableSpec(
    name="t",
    schema=StructType([StructField("k", LongType(), False), StructField("v", LongType())]),
    constraints={"v_non_negative": "v >= 0"},
)


def creation_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("create-tables")]


def test_missing_tables_are_created_while_the_block_runs(spark, tmp_path, monkeypatch):
    paths = [str(tmp_path / "a"), str(tmp_path / "b")]
    block_started = threading.Event()
    created_after_block_started = []
    create = delta.ensure_table

    def ensure_once_the_block_runs(spark, path, spec):
        # a creation made before the block (not in the background) waits here in vain
        created_after_block_started.append(block_started.wait(timeout=10))
        create(spark, path, spec)

    monkeypatch.setattr(delta, "ensure_table", ensure_once_the_block_runs)
    with tables_ensured(spark, [(p, SPEC) for p in paths]) as tables:
        assert tables.creating == frozenset(paths)
        block_started.set()
        tables.ready()
        assert all(is_delta_table(spark, p) for p in paths)
    assert created_after_block_started == [True, True]
    assert "delta.constraints.v_non_negative" in table_properties(spark, paths[1])


def test_existing_tables_are_brought_to_spec_before_the_block(spark, tmp_path):
    existing, missing = str(tmp_path / "old"), str(tmp_path / "new")
    delta.ensure_table(spark, existing, TableSpec(name="t", schema=SPEC.schema))
    with tables_ensured(spark, [(existing, SPEC), (missing, SPEC)]) as tables:
        assert tables.creating == frozenset([missing])
        # no ready() yet: the constraint the existing table lacked is already there
        assert "delta.constraints.v_non_negative" in table_properties(spark, existing)
        tables.ready()
    assert "delta.constraints.v_non_negative" in table_properties(spark, missing)


def test_a_failed_creation_is_raised_by_ready_and_by_leaving_the_block(
    spark, tmp_path, monkeypatch
):
    def fail(spark, path, spec):
        raise RuntimeError(f"cannot create {path}: disk full")

    monkeypatch.setattr(delta, "ensure_table", fail)
    raised_by_ready = False
    with (
        pytest.raises(RuntimeError, match="disk full"),  # and again when the block is left
        tables_ensured(spark, [(str(tmp_path / "a"), SPEC)]) as tables,
    ):
        with pytest.raises(RuntimeError, match="disk full"):
            tables.ready()
        raised_by_ready = True
    assert raised_by_ready
    # a block that never wrote (nothing new to load) still learns of it
    with (
        pytest.raises(RuntimeError, match="disk full"),
        tables_ensured(spark, [(str(tmp_path / "b"), SPEC)]),
    ):
        pass
    assert creation_threads() == []


def test_leaving_the_block_on_error_waits_for_the_creation(spark, tmp_path, monkeypatch):
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    create = delta.ensure_table

    def slow(spark, path, spec):
        time.sleep(1.0)
        create(spark, path, spec)

    monkeypatch.setattr(delta, "ensure_table", slow)
    with (
        pytest.raises(ValueError, match="bronze unreadable"),  # the block's own error
        tables_ensured(spark, [(first, SPEC), (second, SPEC)]),
    ):
        raise ValueError("bronze unreadable")
    # the creation under way finished before the block was left (within the writer's
    # lease); the one not started was dropped (the next run makes it)
    assert creation_threads() == []
    assert is_delta_table(spark, first)
    assert not is_delta_table(spark, second)


def test_a_failing_block_keeps_the_creation_error_too(spark, tmp_path, monkeypatch, caplog):
    def fail(spark, path, spec):
        raise RuntimeError("cannot create: disk full")

    monkeypatch.setattr(delta, "ensure_table", fail)
    with (
        pytest.raises(ValueError, match="bronze unreadable") as raised,
        tables_ensured(spark, [(str(tmp_path / "t"), SPEC)]),
    ):
        time.sleep(0.5)  # the creation fails first
        raise ValueError("bronze unreadable")
    assert any("disk full" in note for note in raised.value.__notes__)
    assert "disk full" in caplog.text


def test_a_first_load_writes_only_once_its_tables_exist(spark, tmp_path, monkeypatch):
    config = load_config({"LAKE_ROOT": str(tmp_path), "WATCHLIST": "AAPL,MSFT"})
    store = store_from_config(config)
    stamps = [BASE + 86400 * i for i in range(3)]
    for symbol in ("AAPL", "MSFT"):
        body = yahoo_body(
            symbol, stamps, [10, 11, 12], [11, 12, 13], [9, 10, 11], [10, 11, 12], [100, 200, 300]
        )
        write_bronze(store, body, symbol=symbol, ingest_date=D1)
    # silver/prices is created only once the transform either calls ready() or starts to
    # write: a write that did not wait for ready() then finds no table
    go = threading.Event()
    create = delta.ensure_table
    merge = job.merge_upsert
    existed_at_write = []

    def held(spark, path, spec):
        if path.endswith("prices"):
            go.wait(timeout=60)
        create(spark, path, spec)

    @contextmanager
    def announcing_ready(spark, tables):
        with tables_ensured(spark, tables) as creation:
            yield replace(creation, ready=lambda: (go.set(), creation.ready()))

    def recording_merge(spark, path, *args, **kwargs):
        existed_at_write.append(is_delta_table(spark, path))
        go.set()
        return merge(spark, path, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("read the manifest while it was being created")

    monkeypatch.setattr(delta, "ensure_table", held)
    monkeypatch.setattr(job, "tables_ensured", announcing_ready)
    monkeypatch.setattr(job, "merge_upsert", recording_merge)
    monkeypatch.setattr(job, "processed_keys", refuse)
    result = job.run_transform(config, Interval.for_date(D1), spark=spark)
    assert (result.objects_new, result.rows_out, result.quarantined) == (2, 6, 0)
    assert existed_at_write == [True, True]  # silver/prices, then the manifest
    prices = spark.read.format("delta").load(config.lake_path("silver", "prices"))
    assert sorted((r["symbol"], r["close"]) for r in prices.collect()) == [
        (s, float(c)) for s in ("AAPL", "MSFT") for c in (10, 11, 12)
    ]
    manifest = spark.read.format("delta").load(config.lake_path("silver", "_processed"))
    assert manifest.count() == 2
