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
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyspark
import pytest

from medallion.common.config import load_config
from tests.canonical import canonical

REPO_ROOT = Path(__file__).resolve().parents[3]
SPARK_HOME = Path(pyspark.__file__).parent
INTERVAL = ["--start", "2026-03-02", "--end", "2026-03-07"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(tmp / "logs"),
        "PYSPARK_PYTHON": sys.executable,
    }


def _wait_port(port: int, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited {proc.returncode}: {log.read_text()[-2000:]}", pytrace=False)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port}: {log.read_text()[-2000:]}", pytrace=False)


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A Spark master and two one-core workers on 127.0.0.1, each in its own work folder."""
    tmp = tmp_path_factory.mktemp("spark-standalone")
    env = _spark_env(tmp)
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port, ui = _free_port(), _free_port()
    procs = []

    def start(name: str, *args: str) -> subprocess.Popen:
        log = tmp / f"{name}.log"
        p = subprocess.Popen([spark_class, *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                             start_new_session=True)
        procs.append((p, log))
        return p

    try:
        master = start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                       "--port", str(port), "--webui-port", str(ui))
        _wait_port(port, master, "the Spark master", tmp / "master.log")
        url = f"spark://127.0.0.1:{port}"
        for i in (1, 2):
            work = tmp / f"worker-{i}"
            work.mkdir()
            worker_port = _free_port()
            w = start(f"worker-{i}", "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                      "--port", str(worker_port), "--webui-port", str(_free_port()), "--cores", "1",
                      "--memory", "1500m", "--work-dir", str(work))
            _wait_port(worker_port, w, f"Spark worker {i}", tmp / f"worker-{i}.log")
        yield url, tmp
    finally:
        for p, _ in procs:
            if p.poll() is None:
                os.killpg(p.pid, 15)
        for p, _ in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait(5)


def _run_stages(env: dict[str, str]) -> None:
    for stage in ("ingest", "transform", "aggregate"):
        p = subprocess.run([str(Path(sys.executable).parent / "medallion"), stage, *INTERVAL], env=env,
                           capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, f"medallion {stage} ({env['SPARK_MASTER']}) exit {p.returncode}:\n{p.stderr[-3000:]}"


def test_the_pipeline_on_a_standalone_cluster_equals_local_mode(standalone_cluster, minio_server, s3_spark, tmp_path):
    url, work = standalone_cluster
    spark = s3_spark[0]
    client = minio_server.client()
    lakes = {}
    for mode, master in (("local", "local[2]"), ("cluster", url)):
        bucket = f"scaleout-{mode}-{os.getpid()}"
        client.create_bucket(Bucket=bucket)
        env = {
            **_spark_env(tmp_path),
            **minio_server.env(bucket),
            "MARKET_SOURCE": "synthetic",
            "WATCHLIST": "AAPL,MSFT,PETR4.SA",
            "SPARK_MASTER": master,
        }
        _run_stages(env)
        lakes[mode] = env
    # The executors really ran on the workers: each worker launched one for the app.
    launched = [d for d in work.glob("worker-*/app-*/*") if d.is_dir()]
    assert len({d.parent.parent for d in launched}) == 2, f"executors on {sorted(map(str, launched))}"
    forms = {
        mode: canonical(spark, load_config(env), layers=("bronze", "silver", "quarantine", "gold"))
        for mode, env in lakes.items()
    }
    assert forms["cluster"].diff(forms["local"]) == {}
    assert sum(forms["local"].silver.values()) > 0 and sum(forms["local"].gold.values()) > 0
    shutil.rmtree(work / "logs", ignore_errors=True)
