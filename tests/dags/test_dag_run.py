"""A real run of market_data without a cluster.

Airflow 3.3 (`airflow dags test`, throwaway AIRFLOW_HOME on SQLite) executes the
DAG; each KubernetesPodOperator builds its real pod request, and instead of
submitting it the same command runs locally (tests/dags/airflow_side/run_dag_locally.py)
with the environment the kubelet would give it: the image's ENV, then ConfigMap
medallion-config as the manifests render it (pointed at the local servers), then the
Secrets medallion-s3 / medallion-analytics with the keys bootstrap/secrets.yaml lists.
The jobs write to the real local MinIO and PostgreSQL with the synthetic source.

One test, two runs, because the runs build on each other:
  1. day D            -> gold rows for D in PostgreSQL
  2. day D+1          -> only D+1 is added; D's rows are untouched
A rerun of day D (Airflow's retry or Clear) runs the very commands of run 1; that it
changes nothing is proven on those commands by tests/integration/test_end_to_end.py and,
after a kill at every point, by the fault suite, so it is not paid for a third time here.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import dag_harness as h
import pytest

DAY1, DAY2 = "2024-03-05", "2024-03-06"  # Tuesday, Wednesday
SYMBOLS = ["AAPL", "MSFT"]
PIPELINE = ["ingest", "transform", "aggregate", "publish"]
# Bookkeeping columns that may legitimately differ between two publishes of the same data.
VOLATILE_COLUMNS = {"published_at", "updated_at", "loaded_at", "ingested_at", "run_id"}


# The timeout bounds a hung run (not a speed target): the real run takes 4–10 min on 2 busy cores.
def _airflow(env: dict[str, str], *args: str, driver: bool = False, timeout: int = 1800):
    python = str(h.require_airflow())
    cmd = (
        [python, str(h.AIRFLOW_SIDE / "run_dag_locally.py"), *args]
        if driver
        else [python, "-m", "airflow", *args]
    )
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(
            f"`airflow {' '.join(args)}` failed ({proc.returncode}) after "
            f"{time.monotonic() - started:.0f}s:\n{(proc.stdout + proc.stderr)[-6000:]}",
            pytrace=False,
        )
    return proc


def _local_cluster(cluster, minio_server, bucket: str, dsn: str) -> dict:
    """The ConfigMap and Secrets the pods reference, as the cluster would hold them,
    with the values of the local servers."""
    cm = cluster.find("ConfigMap", h.JOB_NAMESPACE, h.JOB_CONFIGMAP)
    assert cm is not None, "ConfigMap medallion-config is not rendered"
    s3 = minio_server.env(bucket)
    overrides = {
        "LAKE_ROOT": s3["LAKE_ROOT"],
        "S3_ENDPOINT_URL": s3["S3_ENDPOINT_URL"],
        "MARKET_SOURCE": "synthetic",
        "WATCHLIST": ",".join(SYMBOLS),
        "SPARK_MASTER": "local[2]",
    }
    assert set(overrides) <= set(cm["data"]), "the test overrides a key the ConfigMap lacks"
    secrets = {
        "medallion-s3": {
            "AWS_ACCESS_KEY_ID": s3["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": s3["AWS_SECRET_ACCESS_KEY"],
        },
        "medallion-analytics": {"ANALYTICS_DSN": dsn},
    }
    for name, data in secrets.items():
        assert set(data) == cluster.secrets_doc.get((h.JOB_NAMESPACE, name)), name
    return {
        "ConfigMap": {f"{h.JOB_NAMESPACE}/{h.JOB_CONFIGMAP}": {**cm["data"], **overrides}},
        "Secret": {f"{h.JOB_NAMESPACE}/{n}": d for n, d in secrets.items()},
    }


def _image_root(tmp: Path) -> Path:
    """The job image's executables: `medallion` from the medallion venv, and a stand-in
    for tini (the image's PID 1) that runs what it wraps."""
    bin_dir = tmp / "image-bin"
    bin_dir.mkdir()
    medallion = h.MEDALLION_BIN / "medallion"
    if not medallion.exists():
        pytest.fail("the medallion venv is missing: run `make venv`", pytrace=False)
    (bin_dir / "medallion").symlink_to(medallion)
    tini = bin_dir / "tini"
    tini.write_text('#!/bin/sh\n[ "$1" = "--" ] && shift\nexec "$@"\n')
    tini.chmod(0o755)
    return bin_dir


def _image_env(tmp: Path) -> dict[str, str]:
    """What apps/docker/base.Dockerfile sets with ENV, for the local stand-in."""
    home = tmp / "pod-tmp"
    home.mkdir()
    env = {
        "HOME": str(home),
        "TMPDIR": str(home),
        "SPARK_LOCAL_DIRS": str(home / "spark"),
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "MEDALLION_JARS_DIR": os.environ.get("MEDALLION_JARS_DIR")
        or str(h.REPO_ROOT / ".cache" / "jars"),
        "PYSPARK_PYTHON": str(h.MEDALLION_BIN / "python"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "TZ": "UTC",
        "LANG": "C.UTF-8",
    }
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    # the image's archive, built for its JVM and jars: here this clone's, if run-tests set it
    archive = os.environ.get("SPARK_CDS_ARCHIVE", "")
    if archive and Path(archive).is_file():
        env["SPARK_CDS_ARCHIVE"] = archive
    return env


def _gold(dsn: str) -> tuple[str, list[tuple[str, str]]]:
    """(date column, [(date, canonical row json)]) of public.gold_daily, sorted."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        cols = [
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'public' and table_name = 'gold_daily' "
                "order by ordinal_position"
            )
        ]
        assert cols, "table public.gold_daily does not exist after the run"
        date_col = next((c for c in ("trade_date", "date", "day") if c in cols), None)
        assert date_col, f"no date column in public.gold_daily: {cols}"
        keep = [c for c in cols if c not in VOLATILE_COLUMNS]
        select = ", ".join(f'"{c}"' for c in keep)
        rows = conn.execute(
            f'select "{date_col}"::text, row_to_json(t)::text '
            f"from (select {select} from public.gold_daily) t order by 1, 2"
        ).fetchall()
    return date_col, [(d, j) for d, j in rows]


def _bronze_keys(minio_server, bucket: str) -> set[str]:
    client = minio_server.client()
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="bronze/"):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return {k for k in keys if not k.startswith("bronze/_state/")}


def _pods(podlog: Path) -> list[dict]:
    if not podlog.exists():
        return []
    return [json.loads(line) for line in podlog.read_text().splitlines() if line.strip()]


def test_market_data_runs_for_real_and_the_next_day_adds_only_that_day(
    tmp_path, cluster, images, minio_server, s3_bucket, postgres_server
):
    home = tmp_path / "airflow-home"
    home.mkdir()
    cluster_file = tmp_path / "cluster.json"
    local = _local_cluster(cluster, minio_server, s3_bucket, postgres_server.dsn)
    cluster_file.write_text(json.dumps({"image_env": _image_env(tmp_path), **local}))
    podlog = tmp_path / "pods.jsonl"
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    env = h.airflow_env(
        home,
        {
            **images,  # what the dag-processor and scheduler get from medallion-images
            "MEDALLION_LOCAL_CLUSTER": str(cluster_file),
            "MEDALLION_LOCAL_BIN": str(_image_root(tmp_path)),
            "MEDALLION_LOCAL_PODLOG": str(podlog),
            "MEDALLION_LOCAL_WORKDIR": str(workdir),
        },
    )
    _airflow(env, "db", "migrate")
    _airflow(env, "dags", "reserialize")

    # ---- 1. day D
    _airflow(env, "dags", "test", "market_data", DAY1, driver=True)
    pods = _pods(podlog)
    assert [p["task_id"] for p in pods] == PIPELINE
    for p in pods:
        stage = p["task_id"]
        assert p["argv"] == [
            "/usr/bin/tini",
            "--",
            "medallion",
            stage,
            "--start",
            DAY1,
            "--end",
            DAY2,
        ]
        assert p["namespace"] == h.JOB_NAMESPACE
        assert p["service_account"] == h.JOB_SERVICE_ACCOUNT
        assert p["image"] == images[h.STAGE_IMAGE_KEYS[stage]]
        assert p["env_from"] == [h.JOB_CONFIGMAP, *h.JOB_SECRETS]
        assert p["config"]["MARKET_SOURCE"] == "synthetic"
        assert p["returncode"] == 0
    date_col, gold1 = _gold(postgres_server.dsn)
    day1_rows = [r for r in gold1 if r[0] == DAY1]
    assert len(day1_rows) == len(SYMBOLS), gold1
    assert {json.loads(j)["symbol"] for _, j in day1_rows} == set(SYMBOLS)
    assert {d for d, _ in gold1} == {DAY1}, f"{date_col} outside the run's day"
    bronze1 = _bronze_keys(minio_server, s3_bucket)
    assert bronze1, "no bronze objects written"

    # ---- 2. day D+1: only D+1 is added
    _airflow(env, "dags", "test", "market_data", DAY2, driver=True)
    second = _pods(podlog)[4:]
    assert [p["argv"][3:] for p in second] == [
        [s, "--start", DAY2, "--end", "2024-03-07"] for s in PIPELINE
    ]
    _, gold2 = _gold(postgres_server.dsn)
    assert {d for d, _ in gold2} == {DAY1, DAY2}
    assert [r for r in gold2 if r[0] == DAY1] == day1_rows, "adding D+1 changed D's rows"
    assert len([r for r in gold2 if r[0] == DAY2]) == len(SYMBOLS)
    assert _bronze_keys(minio_server, s3_bucket) > bronze1, "D+1 added bronze, D's stayed"
