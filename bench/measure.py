"""Measurements: wall clock per step, the Spark driver's memory, machine facts.

Driver memory (local mode: the driver JVM also runs the tasks) is read two ways:

* ``rss_peak_bytes``: the JVM process's peak resident set (``VmHWM`` in
  ``/proc/<jvm pid>/status``; the pid comes from ``ProcessHandle.current()`` over
  py4j). Heap, metaspace, code cache, thread stacks and off-heap buffers all count.
  The peak is reset at the start of a scenario (``echo 5 > /proc/<pid>/clear_refs``),
  so each scenario reports its own peak.
* ``heap_peak_bytes``: the sum of the JVM heap pools' peak usage (``MemoryPoolMXBean``),
  reset the same way (``resetPeakUsage``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any


class Stopwatch:
    """Named wall-clock laps: ``with watch.lap("silver"): ...``. With ``profile_dir``,
    every :meth:`run` step is also profiled (cProfile of the driver's Python side: time
    spent waiting on a py4j call shows which Spark action or Delta command it was) and
    the top of each profile is written to ``<profile_dir>/<name>.txt``."""

    def __init__(self, profile_dir: Path | None = None) -> None:
        self.laps: dict[str, float] = {}
        self.results: dict[str, Any] = {}
        self.profile_dir = profile_dir

    @contextmanager
    def lap(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.laps[name] = round(self.laps.get(name, 0.0) + time.perf_counter() - started, 3)

    def run(self, name: str, step: Callable[[], Any]) -> Any:
        if self.profile_dir is None:
            with self.lap(name):
                result = step()
        else:
            import cProfile
            import io
            import pstats

            profile = cProfile.Profile()
            with self.lap(name):
                result = profile.runcall(step)
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text)
            stats.sort_stats("cumulative").print_stats(60)
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            (self.profile_dir / f"{name}.txt").write_text(text.getvalue())
        self.results[name] = result
        return result


def _status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class JvmMemory:
    def __init__(self, spark: Any) -> None:
        self._jvm = spark._jvm
        self.pid = int(self._jvm.java.lang.ProcessHandle.current().pid())
        self.max_heap_bytes = int(self._jvm.java.lang.Runtime.getRuntime().maxMemory())

    def _heap_pools(self) -> list[Any]:
        pools = self._jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
        return [p for p in pools if str(p.getType().toString()) == "Heap memory"]

    def reset(self) -> None:
        # where this is not allowed, the peak covers the whole run so far
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        for pool in self._heap_pools():
            pool.resetPeakUsage()

    def peak(self) -> dict[str, Any]:
        hwm = _status_kib(self.pid, "VmHWM")
        rss = _status_kib(self.pid, "VmRSS")
        heap = sum(int(p.getPeakUsage().getUsed()) for p in self._heap_pools())
        return {
            "rss_peak_bytes": hwm * 1024 if hwm is not None else None,
            "rss_now_bytes": rss * 1024 if rss is not None else None,
            "heap_peak_bytes": heap,
            "heap_max_bytes": self.max_heap_bytes,
            "jvm_pid": self.pid,
        }


def load_average() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def machine_facts() -> dict[str, Any]:
    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_bytes": mem_kib * 1024 if mem_kib else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {
            d: version(d) for d in ("pyspark", "delta-spark", "duckdb", "psycopg", "curl_cffi")
        },
    }


def spread(values: list[float]) -> dict[str, Any]:
    """Median, minimum and maximum of repeated measurements (a target is judged on the
    median; the range says how much this machine moved during the run)."""
    import statistics

    clean = [v for v in values if v is not None]
    if not clean:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(clean), 3),
        "min": round(min(clean), 3),
        "max": round(max(clean), 3),
        "n": len(clean),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def timed_process(
    argv: list[str], env: dict[str, str], what: str, timeout_s: float = 3600
) -> tuple[float, str]:
    """Run ``argv`` from the repository root (on PYTHONPATH, so ``-m bench.*`` works);
    (its wall time, its stdout). A failed process raises with the end of its stderr."""
    import subprocess

    from bench.workload import REPO_ROOT

    pythonpath = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S603 - argv built by the bench
        argv,
        env={**env, "PYTHONPATH": pythonpath},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    seconds = round(time.perf_counter() - started, 3)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def save_separate_run(path: Path, name: str, result: dict[str, Any]) -> None:
    """Put ``result`` (one scenario run on its own) under ``separate_runs.<name>`` of the
    results file, next to the last whole run's scenarios (a whole run rewrites the file)."""
    import json

    results = json.loads(path.read_text()) if path.exists() else {}
    results.setdefault("separate_runs", {})[name] = result
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
