"""A Spark standalone cluster as local processes on 127.0.0.1: a master and N workers.

Started from pyspark's own ``bin/spark-class`` (the Spark the jobs run; nothing to
download), each daemon in its own process group and each worker with its own work folder,
so executors share no disk with the driver or with each other. Used by the scale-out test
(tests/integration/scaleout) and the scale-out scenario of the benchmark (bench/scaleout.py).
``stop()`` ends the process groups this module started (a worker's executors are its
children, in its group), nothing else.

    cluster = SparkStandalone.start(Path("/tmp/spark"), workers=2)
    env = {**os.environ, **spark_env(Path("/tmp/spark/logs")), "SPARK_MASTER": cluster.url}
    ...
    cluster.stop()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from servers import ServerUnavailable, free_port


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def spark_env(log_dir: Path) -> dict[str, str]:
    """What a daemon and a driver of this cluster need: pyspark's Spark, the loopback
    address, the logs in ``log_dir``, this Python for the executors' Python workers."""
    return {
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(log_dir),
        "PYSPARK_PYTHON": sys.executable,
    }


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class SparkStandalone:
    url: str
    home: Path
    worker_dirs: list[Path]  # one per worker: an app-*/<executor id>/ folder per executor
    _procs: list[subprocess.Popen] = field(default_factory=list, repr=False)

    @classmethod
    def start(
        cls,
        home: Path,
        workers: int = 2,
        cores: int = 1,
        memory: str = "1500m",
        timeout_s: float = 120,
    ) -> SparkStandalone:
        """A master and ``workers`` workers of ``cores`` cores and ``memory`` each, their
        logs and work folders under ``home``; returns once every daemon listens."""
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **spark_env(home / "logs")}
        spark_class = str(spark_home() / "bin" / "spark-class")
        port = free_port()
        cluster = cls(url=f"spark://127.0.0.1:{port}", home=home, worker_dirs=[])

        def daemon(name: str, listen: int, *args: str) -> None:
            log = home / f"{name}.log"
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [spark_class, *args],
                env=env,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it whole
            )
            cluster._procs.append(proc)
            deadline = time.monotonic() + timeout_s
            while not _listening(listen):
                if proc.poll() is not None or time.monotonic() > deadline:
                    cluster.stop()
                    state = f"exited {proc.returncode}" if proc.poll() is not None else "is silent"
                    raise ServerUnavailable(
                        f"Spark {name} {state} (127.0.0.1:{listen}):\n"
                        f"{log.read_text(errors='replace')[-2000:]}"
                    )
                time.sleep(0.3)

        master = "org.apache.spark.deploy.master.Master"
        daemon(
            "master",
            port,
            *(master, "--host", "127.0.0.1", "--port", str(port)),
            *("--webui-port", str(free_port())),
        )
        for i in range(1, workers + 1):
            work = home / f"worker-{i}"
            work.mkdir(exist_ok=True)
            cluster.worker_dirs.append(work)
            worker_port = free_port()
            daemon(
                f"worker-{i}",
                worker_port,
                "org.apache.spark.deploy.worker.Worker",
                cluster.url,
                *("--host", "127.0.0.1", "--port", str(worker_port)),
                *("--webui-port", str(free_port()), "--cores", str(cores)),
                *("--memory", memory, "--work-dir", str(work)),
            )
        return cluster

    def executor_dirs(self) -> list[Path]:
        """The folder of every executor the workers launched (``worker-i/app-*/<id>``)."""
        return sorted(d for w in self.worker_dirs for d in w.glob("app-*/*") if d.is_dir())

    def stop(self) -> None:
        """SIGTERM to each process group started here, then SIGKILL to what is left of it
        (after at most 30 s)."""
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            # whatever is left of the group (the daemon, or an executor it did not end)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        self._procs.clear()

    def __enter__(self) -> SparkStandalone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
