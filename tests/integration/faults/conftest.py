"""Fixtures of the fault-injection suite: servers it may stop, stage processes it may kill.

The suite owns one MinIO and one PostgreSQL (real servers from tools/servers.py, on
127.0.0.1 and free ports) because it stops and restarts them; the session's servers
stay untouched. Every stage under test runs as its own process (`medallion <stage>`)
in its own process group, so SIGKILL ends the driver, Spark's JVM and its Python
workers together, as when a pod is evicted. Only processes started here are signalled,
by their own pid / process-group id.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import servers  # tools/servers.py (put on sys.path by tests/conftest.py)

from medallion.common.config import Config, load_config
from medallion.common.intervals import Interval
from tests.fakes.market_api import FakeMarketApi, Fault

WEEK = Interval(date(2026, 3, 2), date(2026, 3, 7))
WATCHLIST = "AAPL,MSFT,GONE"
# Generous safety bounds for a loaded 2-core machine; no test asserts a duration.
PROCESS_BOUND_S = 900
LEASE_TTL_S = "6"
MEDALLION = Path(sys.executable).with_name("medallion")


@dataclass
class FaultServers:
    """MinIO and PostgreSQL that tests may stop and start again (same port, same data)."""

    minio_dir: Path
    pg_dir: Path
    minio: servers.MinioServer
    pg: servers.PostgresServer

    @property
    def endpoint(self) -> str:
        return self.minio.endpoint

    def stop_minio(self) -> None:
        self.minio.stop()

    def start_minio(self) -> None:
        self.minio = servers.MinioServer.start(
            self.minio_dir,
            self.minio.port,
            self.minio.access_key,
            self.minio.secret_key,
        )

    def stop_postgres(self) -> None:
        self.pg.stop(fast=True)  # open transactions are rolled back, clients cut off

    def start_postgres(self) -> None:
        self.pg = servers.PostgresServer.start(self.pg_dir, self.pg.port)

    def new_database(self) -> str:
        import psycopg

        name = "f_" + secrets.token_hex(5)
        with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.pg.dsn(name)

    def new_bucket(self) -> str:
        import boto3
        from botocore.config import Config as BotoConfig

        name = "fault-" + secrets.token_hex(5)
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.minio.access_key,
            aws_secret_access_key=self.minio.secret_key,
            region_name="us-east-1",
            config=BotoConfig(s3={"addressing_style": "path"}),
        ).create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="package")
def fault_servers() -> Iterator[FaultServers]:
    # separate temporary folders: as root, PostgreSQL's own folder is handed to the
    # `postgres` user and must not sit inside a folder only root may enter
    minio_dir = servers.scratch_dir("medallion-faults-minio-")  # see servers.scratch_root
    pg_dir = Path(tempfile.mkdtemp(prefix="medallion-faults-pg-"))
    started: list = []
    try:
        minio = servers.MinioServer.start(minio_dir)
        started.append(minio)
        pg = servers.PostgresServer.start(pg_dir)
        started.append(pg)
    except (servers.ServerUnavailable, subprocess.CalledProcessError) as exc:
        for server in started:
            server.stop()
        shutil.rmtree(minio_dir, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
        pytest.fail(f"the fault suite's own servers did not start: {exc}", pytrace=False)
    suite = FaultServers(minio_dir, pg_dir, minio, pg)
    try:
        yield suite
    finally:
        suite.minio.stop()
        suite.pg.discard()
        shutil.rmtree(minio_dir, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


@pytest.fixture(scope="package")
def market_api() -> Iterator[FakeMarketApi]:
    """The messy week of the end-to-end test, every answer the same on every request
    (faults with times=None), so a refetch after a kill stores nothing new."""
    with FakeMarketApi(seed=7, bars_per_day=1) as api:
        api.inject(Fault("nulls"), symbol="AAPL", times=None)
        api.inject(Fault("dup_last"), symbol="MSFT", times=None)
        api.inject(Fault("chart_error"), symbol="GONE", times=None)
        yield api


@dataclass
class Lake:
    """One bucket + one database: the whole pipeline's state for one scenario."""

    servers: FaultServers
    bucket: str
    dsn: str
    api_url: str
    log_dir: Path
    processes: list[StageProcess] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("MEDALLION_FAULT")}
        return {
            **base,
            "LAKE_ROOT": f"s3://{self.bucket}",
            "S3_ENDPOINT_URL": self.servers.endpoint,
            "AWS_ACCESS_KEY_ID": self.servers.minio.access_key,
            "AWS_SECRET_ACCESS_KEY": self.servers.minio.secret_key,
            "AWS_REGION": "us-east-1",
            "ANALYTICS_DSN": self.dsn,
            "MARKET_SOURCE": "yahoo",
            "YAHOO_BASE_URL": self.api_url,
            "WATCHLIST": WATCHLIST,
            "HTTP_RATE_PER_S": "50",
            "SPARK_MASTER": "local[2]",
            "MEDALLION_LEASE_TTL_S": LEASE_TTL_S,
            **extra,
        }

    @property
    def config(self) -> Config:
        return load_config(self.env())

    def start(self, stage: str, fault: str | None = None, **extra: str) -> StageProcess:
        env = self.env(**extra)
        if fault:
            env["MEDALLION_FAULT"] = fault
        n = len(self.processes)
        proc = StageProcess(stage, fault, env, self.log_dir / f"{n:02d}-{stage}.log")
        self.processes.append(proc)
        return proc

    def run(self, stage: str, fault: str | None = None, **extra: str) -> StageProcess:
        proc = self.start(stage, fault, **extra)
        proc.wait()
        return proc


class StageProcess:
    """`medallion <stage> --start ... --end ...` in its own process group."""

    def __init__(self, stage: str, fault: str | None, env: dict[str, str], log: Path) -> None:
        if not MEDALLION.exists():
            pytest.fail(f"{MEDALLION} not found: run `make setup` (installs the venv)")
        self.stage = stage
        self.fault = fault
        self.log = log
        self.returncode: int | None = None
        argv = [str(MEDALLION), stage, "--start", str(WEEK.start), "--end", str(WEEK.end)]
        with log.open("wb") as out:
            self.popen = subprocess.Popen(  # noqa: S603 - fixed argv
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.popen.pid

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, bound_s: float = PROCESS_BOUND_S) -> int:
        try:
            self.returncode = self.popen.wait(timeout=bound_s)
        except subprocess.TimeoutExpired:
            stacks = self.stacks()
            self.kill()
            pytest.fail(
                f"{self.stage} ({self.fault}) did not end:\n{self.output[-3000:]}\n{stacks}"
            )
        return self.returncode

    def stacks(self) -> str:
        """Where a stage that does not end is stuck: the state of each of its processes,
        the Python threads of its driver (SIGUSR1, see common/cli.py) and the threads of
        Spark's JVM that are in the stage's own code paths (jcmd Thread.print)."""
        family = self._family()
        lines = [f"processes: {family}"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGUSR1)
            time.sleep(1)
            lines.append(self.output[-6000:])
        jcmd = shutil.which("jcmd")
        for pid in family:
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if jcmd and exe.endswith("/java"):
                dump = subprocess.run(  # noqa: S603 - fixed argv, our own child's pid
                    [jcmd, str(pid), "Thread.print"], capture_output=True, text=True, timeout=60
                ).stdout
                busy = [
                    t for t in dump.split("\n\n") if "s3a" in t or "delta" in t or "Python" in t
                ]
                lines.append(
                    f"JVM {pid} threads in S3A / Delta / Python I/O:\n" + "\n\n".join(busy)
                )
        return "\n".join(lines)

    def _family(self) -> dict[int, str]:
        """{pid: state} of the stage process and all its descendants (Spark's JVM, the
        PySpark daemon and its workers, which run in a process group of their own)."""
        parent: dict[int, int] = {}
        state: dict[int, str] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(stat.parent.name)
            state[pid], parent[pid] = fields[0], int(fields[1])
        family = {}
        for pid in state:
            cursor = pid
            while cursor > 1 and cursor != self.pid:
                cursor = parent.get(cursor, 0)
            if cursor == self.pid:
                family[pid] = state[pid]
        return family

    def _stopped_members(self) -> list[int]:
        return [pid for pid, st in self._family().items() if st == "T"]

    def wait_stopped(self) -> None:
        """Until a process of the stage (driver or Spark Python worker) stopped itself
        at its fault point with SIGSTOP."""
        deadline = time.monotonic() + PROCESS_BOUND_S
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(
                    f"{self.stage} exited ({self.popen.returncode}) before reaching "
                    f"{self.fault}:\n{self.output[-3000:]}"
                )
            if self._stopped_members():
                return
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"{self.stage} never reached {self.fault}")

    def resume(self) -> None:
        """SIGCONT the stopped processes of this stage (found by pid)."""
        for pid in self._stopped_members():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the stage's process group and its descendants (all started here)."""
        family = self._family()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.popen.wait()


@pytest.fixture(scope="package")
def log_root() -> Iterator[Path]:
    """Stage logs live outside pytest's numbered temp folders, which other pytest runs
    on the same machine prune while this one may still write to them."""
    root = Path(tempfile.mkdtemp(prefix="medallion-faults-logs-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def new_lake(fault_servers, market_api, log_root, request) -> Iterator:
    lakes: list[Lake] = []

    def make() -> Lake:
        log_dir = log_root / f"{request.node.name}-{len(lakes)}"
        log_dir.mkdir()
        lake = Lake(
            fault_servers,
            fault_servers.new_bucket(),
            fault_servers.new_database(),
            market_api.base_url,
            log_dir,
        )
        lakes.append(lake)
        return lake

    yield make
    for lake in lakes:
        for proc in lake.processes:
            if proc.popen.poll() is None:
                proc.kill()


@pytest.fixture(scope="package")
def lake_spark(spark, fault_servers):
    """The session Spark, able to read and write the suite's buckets over s3a://."""
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    settings = {
        "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": "false",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3a.change.detection.mode": "none",
    }
    for key, value in settings.items():
        hconf.set(key, value)
    spark.conf.set("spark.delta.logStore.s3a.impl", "io.delta.storage.S3SingleDriverLogStore")
    return spark


def bind_bucket(spark, lake: Lake) -> None:
    """Per-bucket S3A settings, so the suite's MinIO sits beside the session's one."""
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    prefix = f"fs.s3a.bucket.{lake.bucket}."
    hconf.set(prefix + "endpoint", lake.servers.endpoint)
    hconf.set(prefix + "endpoint.region", "us-east-1")
    hconf.set(prefix + "access.key", lake.servers.minio.access_key)
    hconf.set(prefix + "secret.key", lake.servers.minio.secret_key)
    hconf.set(prefix + "attempts.maximum", "3")


def no_sleep(_seconds: float) -> None:
    """HTTP backoff is exercised, not waited for."""


def run_in_process(spark, lake: Lake, *stages: str) -> None:
    """Run stages in the test's own process and Spark (the uninterrupted reference
    runs and the reruns that are not under test); each must succeed."""
    from medallion.aggregator.job import run_aggregate
    from medallion.ingestor.job import run_ingest
    from medallion.publisher.job import run_publish
    from medallion.transformer.job import run_transform

    config = lake.config
    for stage in stages:
        if stage == "ingest":
            run_ingest(config, WEEK, sleep=no_sleep)
        elif stage == "transform":
            run_transform(config, WEEK, spark=spark)
        elif stage == "aggregate":
            run_aggregate(config, WEEK, spark=spark)
        elif stage == "publish":
            run_publish(config, WEEK, spark=spark)
        else:
            raise ValueError(stage)


@pytest.fixture(scope="package")
def baseline(fault_servers, market_api, lake_spark, log_root):
    """The canonical form of one uninterrupted run of the whole pipeline (shared)."""
    from tests.canonical import canonical

    lake = Lake(
        fault_servers,
        fault_servers.new_bucket(),
        fault_servers.new_database(),
        market_api.base_url,
        log_root,
    )
    bind_bucket(lake_spark, lake)
    run_in_process(lake_spark, lake, "ingest", "transform", "aggregate", "publish")
    form = canonical(lake_spark, lake.config, lake.dsn)
    layers = form.layers()
    assert all(layers[n] for n in ("bronze", "silver", "quarantine", "gold", "postgres")), (
        "the reference run must produce rows in every layer"
    )
    return form
