#!/usr/bin/env python3
"""Real MinIO and PostgreSQL servers run as local processes on 127.0.0.1.

Used by the test fixtures (tests/conftest.py) and by `make run` when no S3 endpoint
or DSN is given. Each server is started by this module, bound to 127.0.0.1, and
stopped by the process id it recorded: nothing else is ever signalled.

    python tools/servers.py postgres start --dir .local/postgres --port 54329
    python tools/servers.py postgres stop  --dir .local/postgres
    python tools/servers.py minio start --dir .local/minio --port 59000
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
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


def _postgres_user() -> dict[str, str]:
    """PostgreSQL refuses to run as root; as root, run it as the `postgres` system user."""
    if os.geteuid() != 0:
        return {}
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailable(
            "running as root needs a `postgres` system user (Debian's postgresql creates it)"
        ) from None
    return {"user": "postgres", "group": "postgres"}


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    pid: int | None = None

    def dsn(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    @classmethod
    def start(cls, data_dir: Path, port: int | None = None) -> PostgresServer:
        bindir = postgres_bindir()
        as_user = _postgres_user()
        data_dir.mkdir(parents=True, exist_ok=True)
        if as_user:
            shutil.chown(data_dir, "postgres", "postgres")
            os.chmod(data_dir, 0o700)
        pgdata = data_dir / "pgdata"
        log = data_dir / "server.log"
        if not (pgdata / "PG_VERSION").exists():
            # trust on loopback only: a throwaway server for tests and local runs
            subprocess.run(  # noqa: S603
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
                check=True,
                capture_output=True,
                **as_user,
            )
        server = cls(data_dir=data_dir, port=port or free_port())
        proc = subprocess.Popen(  # noqa: S603
            [
                str(bindir / "postgres"),
                "-D",
                str(pgdata),
                "-h",
                "127.0.0.1",
                "-p",
                str(server.port),
                "-k",
                str(data_dir),
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=60",
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **as_user,
        )
        server.pid = proc.pid

        def ready() -> bool:
            if proc.poll() is not None:
                raise ServerUnavailable(f"PostgreSQL exited with {proc.returncode}: see {log}")
            result = subprocess.run(  # noqa: S603
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)],
                capture_output=True,
            )
            return result.returncode == 0

        _wait_until(ready, 60, "PostgreSQL", log)
        return server

    def stop(self, fast: bool = False) -> None:
        if self.pid:
            # SIGTERM is PostgreSQL's "smart" shutdown (waits for clients); SIGINT is
            # "fast" (rolls back open transactions and disconnects them, as a restart does)
            _stop_pid(self.pid, sig=signal.SIGINT if fast else signal.SIGTERM)
            self.pid = None


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
            _stop_pid(info["pid"])
            print(f"{args.server}: stopped (pid {info['pid']})")
        state.unlink(missing_ok=True)
        return 0

    info = running()
    if info is None and args.action == "start":
        if args.server == "postgres":
            pg = PostgresServer.start(data_dir, args.port)
            info = {"pid": pg.pid, "dsn": pg.dsn()}
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
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
