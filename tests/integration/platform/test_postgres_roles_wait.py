"""The postgres-roles Job waits for the database with pg_isready, as uid 10999, which has no
passwd entry in the postgres image (nor here). Without a user name libpq cannot work one out
and pg_isready never reports ready: the Job would wait its whole five minutes. This runs the
script's own pg_isready line as such a uid against a real PostgreSQL server."""

from __future__ import annotations

import glob
import os
import pwd
import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPT = REPO_ROOT / "base/postgres/initdb/10-databases-and-roles.sh"
JOB = REPO_ROOT / "base/postgres/job.yaml"


def _job_uid() -> int:
    return int(re.search(r"runAsUser: (\d+)", JOB.read_text()).group(1))


def _wait_command() -> str:
    """The pg_isready invocation of the script's wait loop, without its `&& break`."""
    (line,) = [ln for ln in SCRIPT.read_text().splitlines() if "pg_isready" in ln and "&& break" in ln]
    return line.split("&& break")[0].strip()


def _run_as(uid: int, command: str, port: int) -> subprocess.CompletedProcess:
    bindir = os.path.dirname(glob.glob("/usr/lib/postgresql/*/bin/pg_isready")[0])
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "PGHOST": "127.0.0.1", "PGPORT": str(port),
           "PGCONNECT_TIMEOUT": "5", "POSTGRES_USER": "postgres"}

    def drop() -> None:
        os.setgid(uid)
        os.setuid(uid)

    return subprocess.run(["bash", "-c", command], env=env, preexec_fn=drop, capture_output=True,
                          text=True, timeout=30)


@pytest.fixture
def uid_without_passwd_entry() -> int:
    uid = _job_uid()
    if os.geteuid() != 0:
        pytest.fail("this test switches to the Job's uid and must run as root (as CI does)", pytrace=False)
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)
    return uid


def test_the_jobs_wait_sees_the_server_ready(_postgres_instance, uid_without_passwd_entry):
    p = _run_as(uid_without_passwd_entry, _wait_command(), _postgres_instance.port)
    assert p.returncode == 0, f"`{_wait_command()}` as uid {uid_without_passwd_entry}: exit {p.returncode} {p.stderr}"


def test_without_a_user_name_it_would_never_be_ready(_postgres_instance, uid_without_passwd_entry):
    """The defect this guards against, shown on the same server: exit 3 (no attempt made)."""
    p = _run_as(uid_without_passwd_entry, "pg_isready --quiet", _postgres_instance.port)
    assert p.returncode == 3, (p.returncode, p.stderr)
