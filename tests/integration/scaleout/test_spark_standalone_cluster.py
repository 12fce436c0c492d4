"""Scale-out without a shared disk: the pipeline's Spark stages on a Spark standalone cluster
(a master and two workers, each its own process, each with its own work folder), the lake on
the real MinIO, give the same tables as Spark's local mode. The stages run as the pods run
them: `medallion <stage>` processes, configured only by the environment (SPARK_MASTER).

What this proves for SPARK_MASTER=k8s://...: nothing in the jobs depends on the executors
sharing the driver's JVM or disk (jars are shipped by the driver, the lake is reached over
S3A from every executor). The Kubernetes-specific part (executor pods created and admitted)
is proven by the control-plane tier (tests/cluster)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spark_standalone  # tools/spark_standalone.py (tests/conftest.py puts tools/ on the path)

from medallion.common.config import load_config
from tests.canonical import canonical

INTERVAL = ["--start", "2026-03-02", "--end", "2026-03-07"]


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A Spark master and two one-core workers on 127.0.0.1, each in its own work folder."""
    home = tmp_path_factory.mktemp("spark-standalone")
    try:
        cluster = spark_standalone.SparkStandalone.start(home, workers=2, cores=1)
    except spark_standalone.ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    with cluster:
        yield cluster


def _run_stages(env: dict[str, str]) -> None:
    for stage in ("ingest", "transform", "aggregate"):
        p = subprocess.run(
            [str(Path(sys.executable).parent / "medallion"), stage, *INTERVAL],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert p.returncode == 0, (
            f"medallion {stage} ({env['SPARK_MASTER']}) exit {p.returncode}:\n{p.stderr[-3000:]}"
        )


def test_the_pipeline_on_a_standalone_cluster_equals_local_mode(
    standalone_cluster, minio_server, s3_spark, tmp_path
):
    url, work = standalone_cluster.url, standalone_cluster.home
    spark = s3_spark[0]
    client = minio_server.client()
    lakes = {}
    for mode, master in (("local", "local[2]"), ("cluster", url)):
        bucket = f"scaleout-{mode}-{os.getpid()}"
        client.create_bucket(Bucket=bucket)
        env = {
            **os.environ,
            **spark_standalone.spark_env(tmp_path / "logs"),
            **minio_server.env(bucket),
            "MARKET_SOURCE": "synthetic",
            "WATCHLIST": "AAPL,MSFT,PETR4.SA",
            "SPARK_MASTER": master,
        }
        _run_stages(env)
        lakes[mode] = env
    # The executors really ran on the workers: each worker launched one for the app.
    launched = standalone_cluster.executor_dirs()
    assert len({d.parent.parent for d in launched}) == 2, (
        f"executors on {sorted(map(str, launched))}"
    )
    forms = {
        mode: canonical(spark, load_config(env), layers=("bronze", "silver", "quarantine", "gold"))
        for mode, env in lakes.items()
    }
    assert forms["cluster"].diff(forms["local"]) == {}
    assert sum(forms["local"].silver.values()) > 0 and sum(forms["local"].gold.values()) > 0
    shutil.rmtree(work / "logs", ignore_errors=True)
