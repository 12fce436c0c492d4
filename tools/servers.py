#!/usr/bin/env python3
"""Real MinIO and PostgreSQL servers run as local processes on 127.0.0.1.

Used by the test fixtures (tests/conftest.py) and by `make run` when no S3 endpoint
or DSN is given. Each server is started by this module and bound to 127.0.0.1. MinIO is
stopped by the process id it recorded; PostgreSQL is started and stopped by its own
`pg_ctl -w` (`stop -m fast`) on the data folder it created: nothing else is signalled.

    python tools/servers.py postgres start --dir .local/postgres --port 54329
    python tools/servers.py postgres stop  --dir .local/postgres
    python tools/servers.py minio start --dir .local/minio --port 59000
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = REPO_ROOT / ".cache" / "bin"


class ServerUnavailable(RuntimeError):
    """A server binary is missing or did not come up; the message says how to get it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(check, timeout_s: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise ServerUnavailable(f"{what} did not become ready within {timeout_s:.0f}s\n{tail}")


def _stop_pid(pid: int, timeout_s: float = 20.0, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- MinIO

# MinIO refuses every write (XMinioStorageFull) once its drive would be left with less
# than 1% of its size free: hasSpaceFor() in cmd/object-api-utils.go, diskFillFraction
# 0.99, the object counted twice for erasure coding. On a 250 GB disk that is 2.5 GB: a
# busy machine with a few GB free fails writes half-way through a test session. Test
# servers therefore live on the roomiest scratch file system, and a start on a drive that
# is already past the line fails at once with the figures.
MINIO_FILL_FRACTION = 0.99
MINIO_MIN_HEADROOM = 256 * 2**20  # writes of a few MB each must fit twice over
RAM_SCRATCH = Path("/dev/shm")
RAM_SCRATCH_PREFERRED = 4 * 2**30


def minio_headroom(path: Path) -> tuple[int, int, int]:
    """(headroom, free, size) in bytes of the file system holding ``path``, as MinIO
    counts them (internal/disk/stat_linux.go: the blocks reserved for root are not
    part of the size)."""
    st = os.statvfs(path)
    size = st.f_frsize * (st.f_blocks - (st.f_bfree - st.f_bavail))
    free = st.f_frsize * st.f_bavail
    return int(free - size * (1 - MINIO_FILL_FRACTION)), free, size


def scratch_root() -> Path:
    """Where test servers keep their data: MEDALLION_SCRATCH_DIR if set; else the
    RAM-backed /dev/shm when it has room (fast, and immune to a nearly full disk); else
    whichever of it and the temporary folder leaves MinIO more room."""
    chosen = os.environ.get("MEDALLION_SCRATCH_DIR")
    if chosen:
        return Path(chosen)
    candidates = [Path(tempfile.gettempdir())]
    if RAM_SCRATCH.is_dir() and os.access(RAM_SCRATCH, os.W_OK | os.X_OK):
        if minio_headroom(RAM_SCRATCH)[0] >= RAM_SCRATCH_PREFERRED:
            return RAM_SCRATCH
        candidates.append(RAM_SCRATCH)
    return max(candidates, key=lambda c: minio_headroom(c)[0])


def scratch_dir(prefix: str) -> Path:
    """A new private folder under scratch_root(); the caller removes it."""
    root = scratch_root()
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def check_minio_room(data_dir: Path) -> None:
    headroom, free, size = minio_headroom(data_dir)
    if headroom < MINIO_MIN_HEADROOM:
        gib = 2**30
        raise ServerUnavailable(
            f"MinIO would refuse writes to {data_dir}: its file system has {free / gib:.2f} GiB "
            f"free of {size / gib:.1f} GiB and MinIO keeps 1% "
            f"({size * (1 - MINIO_FILL_FRACTION) / gib:.2f} GiB) free "
            "plus twice each object's size. Free some space, or point MEDALLION_SCRATCH_DIR "
            "(tests) or the --dir of `tools/servers.py minio start` at a roomier file system"
        )


def minio_binary() -> str:
    for candidate in (os.environ.get("MINIO_BIN"), str(TOOLS_BIN / "minio"), shutil.which("minio")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ServerUnavailable(
        "MinIO server binary not found: run `tools/install-minio.sh` (builds the pinned "
        "MinIO from its Go module into .cache/bin) or set MINIO_BIN; with a Docker engine, "
        "set MEDALLION_TEST_SERVERS=containers to use testcontainers instead"
    )


@dataclass
class MinioServer:
    data_dir: Path
    port: int
    console_port: int
    access_key: str
    secret_key: str
    pid: int | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        data_dir: Path,
        port: int | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> MinioServer:
        """Start MinIO on ``data_dir``; the same port and keys restart it as it was."""
        data_dir.mkdir(parents=True, exist_ok=True)
        check_minio_room(data_dir)
        server = cls(
            data_dir=data_dir,
            port=port or free_port(),
            console_port=free_port(),
            access_key=access_key or "minio-" + secrets.token_hex(4),
            secret_key=secret_key or secrets.token_hex(16),
        )
        env = {
            **os.environ,
            "MINIO_ROOT_USER": server.access_key,
            "MINIO_ROOT_PASSWORD": server.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CI_CD": "1",  # no disk-exclusivity checks on a shared test file system
        }
        log = data_dir / "server.log"
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                minio_binary(),
                "server",
                str(data_dir / "data"),
                "--quiet",
                "--address",
                f"127.0.0.1:{server.port}",
                "--console-address",
                f"127.0.0.1:{server.console_port}",
            ],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server.pid = proc.pid

        def ready() -> bool:
            if proc.poll() is not None:
                raise ServerUnavailable(f"MinIO exited with {proc.returncode}: see {log}")
            try:
                url = f"{server.endpoint}/minio/health/ready"
                with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback
                    return resp.status == 200
            except (urllib.error.URLError, OSError):
                return False

        _wait_until(ready, 60, "MinIO", log)
        return server

    def stop(self) -> None:
        if self.pid:
            _stop_pid(self.pid)
            self.pid = None


# ----------------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path:
    candidates = [os.environ.get("PG_BINDIR")] + sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for candidate in candidates:
        if candidate and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl and (Path(pg_ctl).resolve().parent / "postgres").is_file():
        return Path(pg_ctl).resolve().parent
    raise ServerUnavailable(
        "PostgreSQL server binaries not found: run `tools/install-postgres.sh` "
        "(Debian: apt-get install postgresql) or set PG_BINDIR; with a Docker engine, set "
        "MEDALLION_TEST_SERVERS=containers to use testcontainers instead"
    )


def _postgres_account() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root; as root, it runs as the `postgres` system user."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailable(
            "PostgreSQL cannot run as root and there is no `postgres` system user to run it "
            "as: install Debian's postgresql package (tools/install-postgres.sh creates it), "
            "run as a non-root user, or set ANALYTICS_DSN to a database of your own"
        ) from None
    return entry.pw_uid, entry.pw_gid


def _reachable_by(path: Path, uid: int, gid: int) -> bool:
    """Can `uid` enter every folder above `path` (a root-only parent blocks it)?"""
    for folder in path.parents:
        if not folder.exists():
            continue
        st = folder.stat()
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


def _cluster_home(data_dir: Path, account: tuple[int, int] | None) -> Path:
    """Where the cluster's files go: under data_dir, or where the postgres user can reach.

    As root in a folder only root can enter (a mode-700 clone, /root), the `postgres`
    user cannot reach data_dir; the cluster then lives in a folder named after data_dir
    under the system's temporary folder, owned by `postgres`, and data_dir points to it.
    """
    if account is None or _reachable_by(data_dir, *account):
        home = data_dir
    else:
        digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
        home = Path(tempfile.gettempdir()) / f"medallion-postgres-{digest}"
    home.mkdir(parents=True, exist_ok=True)
    if account is not None:
        os.chown(home, *account)
        os.chmod(home, 0o700)
    if home != data_dir:
        link = data_dir / "cluster"
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(home)
    return home


def _pg_run(argv: list[str], account: tuple[int, int] | None) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        argv,
        capture_output=True,
        text=True,
        cwd="/",  # the postgres user may not be able to enter the caller's folder
        **({"user": account[0], "group": account[1], "extra_groups": []} if account else {}),
    )


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    pgdata: Path | None = None
    pid: int | None = None

    def dsn(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    @classmethod
    def start(cls, data_dir: Path, port: int | None = None) -> PostgresServer:
        bindir = postgres_bindir()
        account = _postgres_account()
        data_dir = data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        home = _cluster_home(data_dir, account)
        pgdata = home / "pgdata"
        log = home / "server.log"
        if not (pgdata / "PG_VERSION").exists():
            # trust on loopback only: a throwaway server for tests and local runs
            done = _pg_run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                account,
            )
            if done.returncode != 0:
                said = (done.stderr or done.stdout).strip()
                raise ServerUnavailable(
                    f"initdb could not create the PostgreSQL cluster in {pgdata}"
                    f"{' as the postgres user' if account else ''}:\n  "
                    + said.replace("\n", "\n  ")
                    + "\nFix what initdb says (or remove that folder and retry), or set "
                    "ANALYTICS_DSN to a PostgreSQL database of your own."
                )
        server = cls(data_dir=data_dir, port=port or free_port(), pgdata=pgdata)
        options = (
            f"-h 127.0.0.1 -p {server.port} -k {home} "
            "-c fsync=off -c full_page_writes=off -c max_connections=60"
        )
        done = _pg_run(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "120",
                "-D",
                str(pgdata),
                "-l",
                str(log),
                "-o",
                options,
            ],
            account,
        )
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-1500:].strip() if log.exists() else ""
            raise ServerUnavailable(
                f"PostgreSQL did not start on 127.0.0.1:{server.port} (pg_ctl: "
                f"{(done.stderr or done.stdout).strip()})\n  "
                + tail.replace("\n", "\n  ")
                + "\nIs the port taken (make stop, or another PORT)? Else set ANALYTICS_DSN "
                "to a PostgreSQL database of your own."
            )
        server.pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        return server

    def stop(self, fast: bool = True) -> None:
        """`pg_ctl stop -m fast` (open transactions rolled back, clients cut off, as a restart
        does). `fast` is kept for callers that ask for it explicitly: every stop is fast."""
        if self.pgdata is not None and self.pid:
            stop_postgres(self.pgdata)
            self.pid = None

    def discard(self) -> None:
        """Stop and delete the cluster's files, for a throwaway server (tests, benchmarks).

        The files may live outside data_dir (see _cluster_home). Left behind, they outlive
        data_dir, and a later run whose data_dir has the same path (pytest numbers its
        folders) would start on the old cluster and find its databases already there.
        """
        self.stop()
        if self.pgdata is not None:
            home = self.pgdata.parent
            shutil.rmtree(home, ignore_errors=True)
            if home != self.data_dir:
                (self.data_dir / "cluster").unlink(missing_ok=True)


def stop_postgres(pgdata: Path) -> None:
    """`pg_ctl stop -m fast`: end sessions, checkpoint, exit; waits until it has."""
    if not (pgdata / "postmaster.pid").exists():
        return
    done = _pg_run(
        [str(postgres_bindir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(pgdata)],
        _postgres_account(),
    )
    if done.returncode != 0 and (pgdata / "postmaster.pid").exists():
        raise ServerUnavailable(f"pg_ctl stop failed: {(done.stderr or done.stdout).strip()}")


# ------------------------------------------------------------------------------ CLI


def _state_file(data_dir: Path) -> Path:
    return data_dir / "server.json"


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("server", choices=["postgres", "minio"])
    parser.add_argument("action", choices=["start", "stop", "env"])
    parser.add_argument("--dir", type=Path, required=True, help="data directory of the server")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    data_dir = args.dir.resolve()
    state = _state_file(data_dir)

    def running() -> dict | None:
        if not state.exists():
            return None
        info = json.loads(state.read_text())
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return None
        return info

    if args.action == "stop":
        info = running()
        if info:
            if args.server == "postgres":
                stop_postgres(Path(info.get("pgdata") or data_dir / "pgdata"))
            else:
                _stop_pid(info["pid"])
            print(f"{args.server}: stopped (pid {info['pid']})")
        state.unlink(missing_ok=True)
        return 0

    info = running()
    if info is None and args.action == "start":
        if args.server == "postgres":
            pg = PostgresServer.start(data_dir, args.port)
            info = {"pid": pg.pid, "dsn": pg.dsn(), "pgdata": str(pg.pgdata)}
        else:
            mn = MinioServer.start(data_dir, args.port)
            info = {
                "pid": mn.pid,
                "endpoint": mn.endpoint,
                "access_key": mn.access_key,
                "secret_key": mn.secret_key,
            }
        state.write_text(json.dumps(info))
        os.chmod(state, 0o600)
    if info is None:
        print(f"{args.server} is not running under {data_dir}", file=sys.stderr)
        return 1
    if args.action == "env" or args.action == "start":
        if args.server == "postgres":
            print(f"ANALYTICS_DSN={info['dsn']}")
        else:
            print(f"S3_ENDPOINT_URL={info['endpoint']}")
            print(f"AWS_ACCESS_KEY_ID={info['access_key']}")
            print(f"AWS_SECRET_ACCESS_KEY={info['secret_key']}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(_cli())
    except ServerUnavailable as exc:
        print(f"servers.py: {exc}", file=sys.stderr)
        sys.exit(2)
