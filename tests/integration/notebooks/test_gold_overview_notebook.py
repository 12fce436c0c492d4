"""The sample notebook runs, cell by cell, on a lake the pipeline just wrote on MinIO.

Its kernel gets the environment the Jupyter pod gets (base/jupyter: the ConfigMap the
container's envFrom names, plus the S3 keys its command exports from the jupyter-s3
Secret). Only what has to point at this machine instead of the cluster is replaced:
the S3 endpoint, the keys, the jar folder, the writable folders and the Python that
Spark starts (the image's `python3` is its venv, here the test venv). A cell that raises
fails the test (nbclient stops there and names it).
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from medallion.common.config import load_config
from medallion.common.intervals import Interval
from medallion.runner.pipeline import run_pipeline

REPO_ROOT = Path(__file__).resolve().parents[3]
JUPYTER = REPO_ROOT / "base" / "jupyter"
NOTEBOOK = JUPYTER / "notebooks" / "gold_overview.ipynb"
# Pod paths (read-only root filesystem: /home/jupyter and /tmp volumes) -> test folders.
LOCAL = {"S3_ENDPOINT_URL", "MEDALLION_JARS_DIR", "PYSPARK_PYTHON"}
FOLDERS = {"HOME", "JUPYTER_RUNTIME_DIR", "MPLCONFIGDIR", "SPARK_LOCAL_DIRS"}


def pod_environment() -> dict[str, str]:
    """What the jupyter container's envFrom and command give its kernels, from base/jupyter."""
    deployment = yaml.safe_load((JUPYTER / "deployment.yaml").read_text())
    (container,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "jupyter"
    ]
    configmaps = {
        doc["metadata"]["name"]: doc.get("data") or {}
        for path in JUPYTER.glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "ConfigMap"
    }
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        env.update(configmaps[source["configMapRef"]["name"]])
    env.update({item["name"]: item.get("value", "") for item in container.get("env") or []})
    command = " ".join(container.get("command") or [])
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert f'{key}="$(cat /var/run/secrets/jupyter-s3/{key})"' in command
        env[key] = "<from the jupyter-s3 Secret>"
    return env


@pytest.fixture
def lake_on_minio(s3_spark, minio_server, postgres_server):
    """The pipeline (ingest -> silver -> gold -> publish) into the pod's LAKE_ROOT bucket."""
    spark, _ = s3_spark
    pod = pod_environment()
    bucket = load_config(pod).bucket
    client = minio_server.client()
    if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=bucket)
    env = {
        **pod,
        "S3_ENDPOINT_URL": minio_server.endpoint,
        "AWS_ACCESS_KEY_ID": minio_server.access_key,
        "AWS_SECRET_ACCESS_KEY": minio_server.secret_key,
        "MARKET_SOURCE": "synthetic",
        "ANALYTICS_DSN": postgres_server.dsn,
    }
    config = load_config(env)
    summary, gold = run_pipeline(config, Interval(date(2026, 1, 5), date(2026, 2, 2)), spark=spark)
    assert gold and summary["layers"]["gold daily"] == len(gold)
    yield pod, minio_server
    keys = client.list_objects_v2(Bucket=bucket).get("Contents") or []
    while keys:
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k["Key"]} for k in keys]})
        keys = client.list_objects_v2(Bucket=bucket).get("Contents") or []


def test_gold_overview_runs_with_the_pods_environment(lake_on_minio, tmp_path):
    pod, minio = lake_on_minio
    assert {"LAKE_ROOT", "S3_ENDPOINT_URL", "MEDALLION_JARS_DIR"} <= set(pod)
    env = dict(pod)
    env.update(
        S3_ENDPOINT_URL=minio.endpoint,
        AWS_ACCESS_KEY_ID=minio.access_key,
        AWS_SECRET_ACCESS_KEY=minio.secret_key,
        MEDALLION_JARS_DIR=str(REPO_ROOT / ".cache" / "jars"),
        PYSPARK_PYTHON=sys.executable,
    )
    for name in FOLDERS & set(pod):
        env[name] = str(tmp_path / name.lower())
        Path(env[name]).mkdir()
    replaced = {k for k in pod if env[k] != pod[k]}
    assert replaced <= LOCAL | FOLDERS | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, replaced
    # what the image sets outside the pod spec: its venv first on PATH, its Java
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    env.update({k: v for k, v in os.environ.items() if k == "JAVA_HOME"})

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=env)  # raises CellExecutionError naming the failing cell

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "s3a://" in text or "s3://" in text  # the gold path on the bucket
    rows = next(int(line.split()[0]) for line in text.splitlines() if line.endswith(" rows"))
    assert rows > 0
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the chart was drawn
