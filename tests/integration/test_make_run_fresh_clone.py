"""`make run SOURCE=synthetic` from a fresh clone inside a folder only its owner can enter.

As root (a dev container, CI) that folder is what blocked the `postgres` user before; the
local PostgreSQL must still start off root, publish, and be stopped by `make stop`. When it
cannot start, `make run` says why in one message (no traceback, no shell error).

The clone reuses this checkout's caches so nothing is downloaded again: the venv
(VENV=...; the clone's code comes first on PYTHONPATH), the jar closure
(MEDALLION_JARS_DIR) and the driver JVM's class-data-sharing archive (CDS_DIR=...: same
JVM, venv and jars, so the same archive, not built again).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tools"))
import servers  # noqa: E402  (tools/servers.py)

WINDOW = ["START=2026-01-05", "END=2026-01-17"]


@pytest.fixture(scope="module")
def clone() -> Iterator[Path]:
    private = Path(tempfile.mkdtemp(prefix="medallion-private-"))  # mode 0700
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    repo = private / "data-stack-k8s"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(repo)], check=True)
    # The shared venv must already hold this lock (make would otherwise reinstall it from
    # the clone, pointing this checkout's venv there); fresh files are newer than its
    # stamp, so age the clone's pyproject to keep make from touching it.
    digest = hashlib.sha256((repo / "apps/pyproject.toml").read_bytes()).hexdigest()[:12]
    if not (REPO_ROOT / f".venv/.stamp-{digest}").exists():
        shutil.rmtree(private, ignore_errors=True)
        pytest.fail(
            "the venv does not match apps/pyproject.toml: run `make venv` first", pytrace=False
        )
    os.utime(repo / "apps/pyproject.toml", (0, 0))
    try:
        yield repo
    finally:
        subprocess.run(["make", "-s", "stop", f"VENV={REPO_ROOT / '.venv'}"], cwd=repo)
        cluster = repo / ".local/postgres/cluster"  # where servers.py put the files, if elsewhere
        if cluster.is_symlink() and not (cluster / "pgdata/postmaster.pid").exists():
            shutil.rmtree(cluster.resolve(), ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def make_run(repo: Path, port: int) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ANALYTICS_DSN", "LAKE_ROOT", "S3_ENDPOINT_URL", "MARKET_SOURCE")
    }
    env.update(
        MEDALLION_JARS_DIR=str(REPO_ROOT / ".cache/jars"),
        PYTHONPATH=str(repo / "apps/src"),
    )
    return subprocess.run(
        [
            "make",
            "run",
            "SOURCE=synthetic",
            *WINDOW,
            f"PG_PORT={port}",
            f"VENV={REPO_ROOT / '.venv'}",
            f"CDS_DIR={REPO_ROOT / '.cache/cds'}",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_a_taken_port_gives_one_clear_message(clone):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        run = make_run(clone, busy.getsockname()[1])
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "PostgreSQL did not start" in out and "Address already in use" in out
    assert "ANALYTICS_DSN" in out  # what to do instead
    assert "Traceback" not in out and "unbound variable" not in out
    assert "medallion run [" not in run.stdout  # the pipeline did not start (its header line)


def test_make_run_publishes_from_a_private_folder(clone):
    port = servers.free_port()
    run = make_run(clone, port)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert (
        f"publishing to the local PostgreSQL at postgresql://postgres@127.0.0.1:{port}/"
        in run.stdout
    )
    report = clone / "reports/latest/report.html"
    assert report.exists() and (clone / "reports/latest/gold.png").stat().st_size > 10_000
    state = json.loads((clone / ".local/postgres/server.json").read_text())
    with open(f"/proc/{state['pid']}/status") as status:
        uid = next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
    assert uid != 0, "PostgreSQL runs as root"
    with psycopg.connect(state["dsn"]) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM public.gold_daily").fetchone()
    assert rows > 0
    stopped = subprocess.run(
        ["make", "-s", "stop", f"VENV={REPO_ROOT / '.venv'}"],
        cwd=clone,
        capture_output=True,
        text=True,
    )
    assert "postgres: stopped" in stopped.stdout
    assert not (Path(state["pgdata"]) / "postmaster.pid").exists()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user can enter, so the cluster goes where it is asked to."""
    folder = Path(tempfile.mkdtemp(prefix="medallion-initdb-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_initdb_failure_is_reported_in_initdb_words(open_dir):
    data_dir = open_dir / "pg"
    (data_dir / "pgdata").mkdir(parents=True)
    (data_dir / "pgdata" / "stray").write_text("not a cluster")
    if os.geteuid() == 0:
        shutil.chown(data_dir / "pgdata", "postgres")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tools/servers.py"),
            "postgres",
            "start",
            "--dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "initdb: error:" in done.stderr and "is not empty" in done.stderr
    assert "ANALYTICS_DSN" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # nothing for `eval` in the Makefile
