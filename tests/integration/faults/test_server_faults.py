"""Servers that go away mid-stage: MinIO stopped in a transform and in an aggregate,
PostgreSQL stopped and restarted in a publish.

The stage under test runs as its own process and stops itself (SIGSTOP) at a named
point; the test then stops the real server and lets the stage continue. The stage
retries within its bound and exits with code 3 and a message naming the server, or,
when the server is back in time, completes. Nothing half-written becomes visible, and
the next run makes every layer equal to an uninterrupted run.
"""

from __future__ import annotations

import psycopg

from medallion.common.storage import store_from_config
from tests.canonical import canonical
from tests.integration.faults.conftest import bind_bucket, run_in_process
from tests.integration.faults.report import record_outcome


def published(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass('public.gold_daily')").fetchone()[0] is None:
            return []
        return conn.execute("SELECT * FROM public.gold_daily ORDER BY 1, 2").fetchall()


def test_minio_and_postgres_go_away_mid_stage(new_lake, lake_spark, baseline, fault_servers):
    lake = new_lake()
    bind_bucket(lake_spark, lake)
    config = lake.config
    store = store_from_config(config)
    run_in_process(lake_spark, lake, "ingest")
    s3_named = f"S3 server at {fault_servers.endpoint}"
    faults_tried = []

    # MinIO stopped in the middle of a transform (prices and quarantine committed)
    transform = lake.start("transform", "transform.before_manifest:stop")
    transform.wait_stopped()
    fault_servers.stop_minio()
    try:
        transform.resume()
        code = transform.wait()
    finally:
        fault_servers.start_minio()
    assert code == 3, transform.output[-3000:]
    assert s3_named in transform.output
    faults_tried.append("minio stopped mid-transform")
    run_in_process(lake_spark, lake, "transform")
    got = canonical(lake_spark, config, store=store, layers=("silver", "quarantine"))
    assert got.diff(baseline) == {}

    # MinIO stopped while the aggregate's Spark tasks write gold's data files
    aggregate = lake.start("aggregate", "delta.write:gold/daily:stop")
    aggregate.wait_stopped()
    fault_servers.stop_minio()
    try:
        aggregate.resume()
        code = aggregate.wait()
    finally:
        fault_servers.start_minio()
    assert code == 3, aggregate.output[-3000:]
    assert s3_named in aggregate.output
    assert not canonical(lake_spark, config, layers=("gold",)).gold, (
        "the interrupted first gold commit is not visible"
    )
    faults_tried.append("minio stopped mid-aggregate (inside the Delta write)")
    run_in_process(lake_spark, lake, "aggregate")
    assert canonical(lake_spark, config, layers=("gold",)).diff(baseline) == {}

    # PostgreSQL stopped inside the publish transaction and not back within the retries
    publish = lake.start("publish", "publish.before_commit:stop")
    publish.wait_stopped()
    before = published(lake.dsn)
    fault_servers.stop_postgres()
    try:
        publish.resume()
        code = publish.wait()
    finally:
        fault_servers.start_postgres()
    assert code == 3, publish.output[-3000:]
    assert f"PostgreSQL at 127.0.0.1:{fault_servers.pg.port}" in publish.output
    assert published(lake.dsn) == before, "the rolled-back publish left nothing visible"
    faults_tried.append("postgres stopped mid-publish (down past the retries)")

    # PostgreSQL restarted inside the publish COPY: the publish retries and completes
    publish = lake.start("publish", "publish.copy#2:stop")
    publish.wait_stopped()
    fault_servers.stop_postgres()
    fault_servers.start_postgres()
    publish.resume()
    assert publish.wait() == 0, publish.output[-3000:]
    assert "publish attempt 1 of 3 failed" in publish.output
    faults_tried.append("postgres restarted mid-publish (retried)")
    final = canonical(lake_spark, config, lake.dsn, store)
    diff = final.diff(baseline)
    record_outcome("server_faults", diff, faults=faults_tried)
    assert diff == {}
