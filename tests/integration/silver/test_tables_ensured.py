"""tables_ensured: the tables a first load creates are created in a background thread
while the caller reads its input; existing tables are brought to spec before it does;
a failed creation is never lost and no creation outlives the block."""

from __future__ import annotations

import threading
import time

import pytest
from pyspark.sql.types import LongType, StructField, StructType

from medallion.common import delta
from medallion.common.delta import TableSpec, is_delta_table, table_properties, tables_ensured

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
    path = str(tmp_path / "t")
    delta.ensure_table(spark, path, TableSpec(name="t", schema=SPEC.schema))
    with tables_ensured(spark, [(path, SPEC)]) as tables:
        assert tables.creating == frozenset()
        # no ready() yet: the constraint the table lacked is already there
        assert "delta.constraints.v_non_negative" in table_properties(spark, path)


def test_a_failed_creation_is_raised_by_ready_and_by_leaving_the_block(
    spark, tmp_path, monkeypatch
):
    def fail(spark, path, spec):
        raise RuntimeError(f"cannot create {path}: disk full")

    monkeypatch.setattr(delta, "ensure_table", fail)
    with (
        pytest.raises(RuntimeError, match="disk full"),
        tables_ensured(spark, [(str(tmp_path / "a"), SPEC)]) as tables,
    ):
        tables.ready()
    # a block that never wrote (nothing new to load) still learns of it
    with (
        pytest.raises(RuntimeError, match="disk full"),
        tables_ensured(spark, [(str(tmp_path / "b"), SPEC)]),
    ):
        pass
    assert creation_threads() == []


def test_leaving_the_block_on_error_waits_for_the_creation(spark, tmp_path, monkeypatch):
    path = str(tmp_path / "t")
    create = delta.ensure_table

    def slow(spark, path, spec):
        time.sleep(1.0)
        create(spark, path, spec)

    monkeypatch.setattr(delta, "ensure_table", slow)
    with (
        pytest.raises(ValueError, match="bronze unreadable"),  # the block's own error
        tables_ensured(spark, [(path, SPEC)]),
    ):
        raise ValueError("bronze unreadable")
    # the creation finished before the block was left (within the writer's lease)
    assert creation_threads() == []
    assert is_delta_table(spark, path)
