"""Restatement: history first, AAPL's split a run later, against a lake that had the
split from the start. Real MinIO, Spark + Delta and PostgreSQL."""

from __future__ import annotations

import psycopg

from medallion.aggregator.job import run_aggregate
from medallion.common.config import load_config
from medallion.common.storage import store_from_config
from medallion.publisher.job import run_publish
from medallion.transformer.job import run_transform
from medallion.transformer.testing import content_hash
from tests.integration.market_fixture import AAPL_SPLIT, INTERVAL, WATCHLIST, write_fixture


def pg_rows(dsn: str) -> dict[tuple, tuple]:
    """Gold rows by key, columns by name (a migrated and a new table order them apart)."""
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("SELECT * FROM public.gold_daily")
        names = [d.name for d in cur.description]
        return {
            (r[0], r[1]): tuple(sorted(zip(names, r, strict=True)))
            for r in cur.fetchall()
        }


def run(spark, config):
    run_transform(config, INTERVAL, spark=spark)
    aggregate = run_aggregate(config, INTERVAL, spark=spark)
    publish = run_publish(config, INTERVAL, spark=spark)
    return aggregate, publish


def gold_hash(spark, config):
    return content_hash(spark.read.format("delta").load(config.lake_path("gold", "daily"))
                        .collect())


def test_a_late_split_restates_exactly_the_rows_that_depend_on_it(
    s3_spark, minio_server, postgres_server, _postgres_instance
):
    spark, env = s3_spark
    late = load_config({**env, "WATCHLIST": WATCHLIST, "ANALYTICS_DSN": postgres_server.dsn})
    write_fixture(store_from_config(late), waves=(1,))
    first, _ = run(spark, late)
    assert first.rows_restated == 0
    before = pg_rows(postgres_server.dsn)

    write_fixture(store_from_config(late), waves=(2,))
    aggregate, publish = run(spark, late)
    after = pg_rows(postgres_server.dsn)
    changed = {k for k in before if after[k] != before[k]}
    inserted = set(after) - set(before)
    # exactly AAPL's rows before the ex-date moved (prices / 4, volume x 4); MSFT and the
    # index did not; the new AAPL days were added
    assert changed == {k for k in before if k[0] == "AAPL" and k[1] < AAPL_SPLIT}
    assert changed and {k[0] for k in inserted} == {"AAPL"}
    assert aggregate.rows_restated == len(changed)
    assert aggregate.restated == {"AAPL": [f"split {AAPL_SPLIT.isoformat()} ratio 4.0"]}
    assert publish.rows_out == len(changed) + len(inserted)
    assert publish.rows_in == publish.rows_out  # the publisher sent nothing else

    # the same bronze in one run, split known from the start
    import secrets

    bucket = "ref-" + secrets.token_hex(6)
    minio_server.client().create_bucket(Bucket=bucket)
    ref_db = "r_" + secrets.token_hex(6)
    admin = _postgres_instance.dsn(_postgres_instance.admin_db)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{ref_db}"')
    try:
        reference = load_config({**minio_server.env(bucket), "WATCHLIST": WATCHLIST,
                                 "ANALYTICS_DSN": _postgres_instance.dsn(ref_db)})
        write_fixture(store_from_config(reference), waves=(1, 2))
        run(spark, reference)
        assert gold_hash(spark, late) == gold_hash(spark, reference)
        assert after == pg_rows(_postgres_instance.dsn(ref_db))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{ref_db}" WITH (FORCE)')

    # a rerun restates nothing
    again, republished = run(spark, late)
    assert (again.rows_out, again.rows_restated, republished.rows_out) == (0, 0, 0)
