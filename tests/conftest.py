"""Shared fixtures: real servers (MinIO, PostgreSQL) and one SparkSession per test run.

Servers are real: local processes on 127.0.0.1 started from tools/servers.py, or
testcontainers when a Docker engine is reachable (a laptop, GitHub Actions). Choose
explicitly with MEDALLION_TEST_SERVERS=local|containers. A server that cannot be had
is a test ERROR whose message says how to get it — never a silent skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tools"))

import servers  # noqa: E402  (tools/servers.py)

# testcontainers run the images the cluster runs, pinned the same way (tag and digest);
# tests/ci/test_ci_version_lock.py checks they equal base/minio and base/postgres.
MINIO_TEST_IMAGE = (
    "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
    "@sha256:14cea493d9a34af32f524e538b8346cf79f3321eff8e708c1e2960462bd8936e"
)
POSTGRES_TEST_IMAGE = (
    "postgres:17.9-bookworm@sha256:47f917f7409eacd22fc5dfb1dee634e1b55cf0c01d1a7eb701be2227a03e0641"
)

MARKERS = {
    "unit": "pure logic and small Spark transformations, no servers",
    "integration": "talks to real servers (MinIO, PostgreSQL, local HTTP)",
    "manifests": "offline checks of the rendered Kubernetes manifests",
    "dags": "Airflow DAG import, structure and real runs",
    "ci": "Dockerfiles, workflows and the version lock agree",
    "bench": "the benchmark harness at its smallest scale",
    "cluster": "a real control plane and Argo CD's own controller converge the stack",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The folder decides the marker, so `-m unit` / `-m integration` always select right.
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT / "tests").parts
        if parts and parts[0] in MARKERS:
            item.add_marker(parts[0])


def _docker_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _server_mode() -> str:
    mode = os.environ.get("MEDALLION_TEST_SERVERS", "").strip().lower()
    if mode in ("local", "containers"):
        return mode
    if mode:
        raise pytest.UsageError("MEDALLION_TEST_SERVERS must be `local` or `containers`")
    return "containers" if _docker_reachable() else "local"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def env(self, bucket: str) -> dict[str, str]:
        """The job environment (same variable names as the cluster's pods) for a bucket."""
        return {
            "LAKE_ROOT": f"s3://{bucket}",
            "S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
        }

    def client(self):
        import boto3
        from botocore.config import Config as BotoConfig

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=BotoConfig(s3={"addressing_style": "path"}),
        )


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str
    admin_db: str

    def dsn(self, dbname: str) -> str:
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"


@pytest.fixture(scope="session")
def minio_server() -> Iterator[S3Server]:
    """A real S3 server (MinIO) for the whole test session."""
    if _server_mode() == "containers":
        from testcontainers.minio import MinioContainer

        # The quay.io image the cluster runs (Docker Hub copies are gone), by tag and digest.
        image = os.environ.get("MINIO_TEST_IMAGE", MINIO_TEST_IMAGE)
        with MinioContainer(image=image) as container:
            cfg = container.get_config()
            yield S3Server(f"http://{cfg['endpoint']}", cfg["access_key"], cfg["secret_key"])
        return
    workdir = servers.scratch_dir("medallion-minio-")  # see servers.scratch_root
    try:
        server = servers.MinioServer.start(workdir)
    except servers.ServerUnavailable as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(str(exc), pytrace=False)
    try:
        yield S3Server(server.endpoint, server.access_key, server.secret_key)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def s3_bucket(minio_server: S3Server) -> Iterator[str]:
    """A fresh, empty bucket for one test, emptied and removed after it (the session's
    MinIO may live in RAM: see servers.scratch_root)."""
    name = "test-" + secrets.token_hex(6)
    client = minio_server.client()
    client.create_bucket(Bucket=name)
    yield name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def _postgres_instance() -> Iterator[PgServer]:
    if _server_mode() == "containers":
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_TEST_IMAGE, driver=None) as container:
            yield PgServer(
                container.get_container_host_ip(),
                int(container.get_exposed_port(5432)),
                container.username,
                container.password,
                container.dbname,
            )
        return
    workdir = Path(tempfile.mkdtemp(prefix="medallion-pg-"))
    try:
        server = servers.PostgresServer.start(workdir)
    except servers.ServerUnavailable as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(str(exc), pytrace=False)
    try:
        yield PgServer("127.0.0.1", server.port, "postgres", "", "postgres")
    finally:
        server.discard()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True)
class PgDatabase:
    server: PgServer
    dbname: str

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.dbname)


@pytest.fixture
def postgres_server(_postgres_instance: PgServer) -> Iterator[PgDatabase]:
    """A fresh database on the session's real PostgreSQL server (attribute `dsn`)."""
    import psycopg

    dbname = "t_" + secrets.token_hex(6)
    with psycopg.connect(
        _postgres_instance.dsn(_postgres_instance.admin_db), autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    yield PgDatabase(_postgres_instance, dbname)
    with psycopg.connect(
        _postgres_instance.dsn(_postgres_instance.admin_db), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole run: UTC, Delta, 2 shuffle partitions, UI off.

    It is configured for S3A against the session's MinIO lazily (see `s3_spark_env`),
    so unit tests never start a server.
    """
    from medallion.common.config import load_config
    from medallion.common.spark import build_spark_session

    lake = Path(tempfile.mkdtemp(prefix="medallion-spark-"))
    settings = {"LAKE_ROOT": str(lake), "SPARK_MASTER": "local[2]"}
    archive = os.environ.get("SPARK_CDS_ARCHIVE", "")
    if archive and Path(archive).is_file():  # tools/run-tests.sh: this clone's, to map only
        settings["SPARK_CDS_ARCHIVE"] = archive
    config = load_config(settings)
    # every test's input is a handful of rows: a short run's driver (C1 only)
    session = build_spark_session(config, app_name="medallion-tests", short_run=True)
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()
    shutil.rmtree(lake, ignore_errors=True)


@pytest.fixture
def s3_spark(spark, minio_server: S3Server, s3_bucket: str):
    """The session Spark pointed at the test's MinIO bucket through s3a://.

    Returns (spark, env) where env are the job variables for that bucket.
    """
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    settings = {
        "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "fs.s3a.endpoint": minio_server.endpoint,
        "fs.s3a.endpoint.region": "us-east-1",
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": "false",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3a.access.key": minio_server.access_key,
        "fs.s3a.secret.key": minio_server.secret_key,
        "fs.s3a.change.detection.mode": "none",
    }
    for key, value in settings.items():
        hconf.set(key, value)
    spark.conf.set("spark.delta.logStore.s3a.impl", "io.delta.storage.S3SingleDriverLogStore")
    return spark, minio_server.env(s3_bucket)
