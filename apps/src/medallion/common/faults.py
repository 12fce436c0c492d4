"""Named fault points: where a stage can be stopped on purpose, deterministically.

The reliability tests run a stage as its own process and make it die (or pause, or
fail) at an exact place of its work, instead of sleeping and hoping::

    MEDALLION_FAULT="transform.after_prices:kill"     # SIGKILL the stage's processes
    MEDALLION_FAULT="publish.copy#3:stop"             # SIGSTOP itself at the 3rd hit
    MEDALLION_FAULT="publish.before_commit:raise"     # raise FaultInjected there

Several faults are separated by commas. ``kill`` sends SIGKILL to the stage's whole
process group when the stage leads its own group (the driver and Spark's JVM; from a
Spark Python worker also the PySpark daemon's group: everything dies together, as in
an OOM-killed or evicted pod), else to the process itself. ``stop`` sends SIGSTOP to
the process, so the test can act (stop a server, start a second writer) and then
continue it with SIGCONT or kill it.

With ``MEDALLION_FAULT`` unset (production), :func:`point` is one dictionary lookup.
:func:`guard_frame` reaches inside Spark's own work: a DataFrame written by a Delta
commit gets a row filter that fires in the Python worker while the commit's data
files are being written, before its log entry exists.

In-process tests can also attach a callback to a point with :func:`on`.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

ENV = "MEDALLION_FAULT"
GROUP_ENV = "MEDALLION_FAULT_PGID"
# A folder of this stage's own: a Delta-write fault fires once in the whole stage, not
# once in every Spark Python worker (each worker is a process of its own, so a marker in
# its environment would let a second worker fire again after the test resumed the first).
ONCE_ENV = "MEDALLION_FAULT_ONCE_DIR"
ACTIONS = ("kill", "stop", "raise")

# Every named point, so a typo in a test fails loudly instead of never firing.
POINTS = {
    "ingest.after_meta": "the bronze .meta.json sidecar is written, the body is not",
    "ingest.after_body": "a bronze object is written, its watermark is not yet moved",
    "transform.after_prices": "silver/prices MERGE committed; quarantine and manifest not",
    "transform.before_manifest": "prices and quarantine committed; the manifest is not",
    "aggregate.before_state": "gold/daily MERGE committed; gold/_state not yet moved",
    "publish.copy": "inside the publish COPY into the staging table (per row)",
    "publish.before_commit": "publish transaction: upsert and state written, not committed",
    "lease.before_fence": "a writer about to re-check its table lease before a commit",
}
DELTA_WRITE = "delta.write:"  # + table name, e.g. delta.write:silver/prices


class FaultInjected(RuntimeError):
    """Raised at a point armed with the ``raise`` action."""


class FaultConfigError(ValueError):
    """``MEDALLION_FAULT`` names an unknown point or action."""


def _known(name: str) -> bool:
    return name in POINTS or name.startswith(DELTA_WRITE)


def parse(spec: str | None) -> dict[str, tuple[int, str]]:
    """``{point: (hit number, action)}`` from a ``MEDALLION_FAULT`` value."""
    armed: dict[str, tuple[int, str]] = {}
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        where, _, action = item.rpartition(":")
        name, _, nth = where.partition("#")
        if not where or action not in ACTIONS or not _known(name):
            raise FaultConfigError(
                f"{ENV}={spec!r}: {item!r} is not <point>[#n]:<{'|'.join(ACTIONS)}> "
                f"with a known point ({', '.join(sorted(POINTS))}, {DELTA_WRITE}<table>)"
            )
        armed[name] = (int(nth) if nth else 1, action)
    return armed


_armed: dict[str, tuple[int, str]] = parse(os.environ.get(ENV))
_hits: dict[str, int] = {}
_callbacks: dict[str, Callable[[], None]] = {}
_lock = threading.Lock()


def arm(spec: str | None = None) -> None:
    """Re-read ``MEDALLION_FAULT`` (the stage CLIs call this at start).

    A stage that leads its own process group records the group id in the environment
    before Spark starts, so Spark's JVM and Python workers inherit it and ``kill``
    ends the whole group from any of them.
    """
    global _armed
    _armed = parse(os.environ.get(ENV) if spec is None else spec)
    _hits.clear()
    if _armed and os.getpgrp() == os.getpid():
        os.environ[GROUP_ENV] = str(os.getpid())
    if any(name.startswith(DELTA_WRITE) for name in _armed):  # a fresh folder per arming
        once_dir = tempfile.mkdtemp(prefix="medallion-fault-")
        os.environ[ONCE_ENV] = once_dir
        atexit.register(shutil.rmtree, once_dir, ignore_errors=True)
    else:
        os.environ.pop(ONCE_ENV, None)


def _fire(name: str, action: str) -> None:
    logger.warning("fault point %s reached: %s", name, action)
    print(f"medallion fault point {name}: {action}", file=sys.stderr, flush=True)
    if action == "raise":
        raise FaultInjected(f"fault injected at {name}")
    if action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
        return
    group = os.environ.get(GROUP_ENV)
    if group and os.getpgrp() == int(group):
        os.killpg(int(group), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def point(name: str) -> None:
    """Mark a named place of a stage's work; fires the fault armed for it, if any."""
    if not _armed and not _callbacks:
        return
    callback = _callbacks.get(name)
    if callback is not None:
        callback()
    spec = _armed.get(name)
    if spec is None:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        due = _hits[name] == spec[0]
    if due:
        _fire(name, spec[1])


def guard_frame(frame: DataFrame, table: str) -> DataFrame:
    """``frame`` unchanged, unless ``delta.write:<table>`` is armed: then a filter that
    fires in Spark's Python worker while the Delta commit writes its data files."""
    name = DELTA_WRITE + table
    if name not in _armed:
        return frame
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType

    keep = worker_filter(name, _armed[name][1])
    column = frame.columns[0]
    return frame.where(F.udf(keep, BooleanType())(F.col(f"`{column}`")))


def worker_filter(name: str, action: str) -> Callable[[object], bool]:
    """The row filter of :func:`guard_frame`: fires ``action`` at its first row in the
    first Python worker of the stage to get there; every other row, and every other
    worker, passes."""
    group_env, fired_env = GROUP_ENV, "MEDALLION_FAULT_FIRED"
    once_dir, marker = os.environ.get(ONCE_ENV), name.replace("/", "_").replace(":", "_")

    def keep(_value):  # no annotations: PySpark would read them as a pandas UDF hint
        # Runs in Spark's Python worker, which may not have this package installed:
        # self-contained on purpose (only the standard library and captured strings).
        import os
        import signal
        import sys

        if os.environ.get(fired_env):
            return True
        os.environ[fired_env] = "1"
        if once_dir:  # the first worker of the stage to get here fires; the others pass
            try:
                os.close(os.open(os.path.join(once_dir, marker), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return True
            except OSError:
                pass  # no shared folder here (an executor on another host): fire
        line = f"medallion fault point {name}: {action}\n"
        sys.stderr.write(line)
        sys.stderr.flush()
        group = os.environ.get(group_env)
        if group:
            # the JVM relays worker output asynchronously: say it on the driver's stderr
            try:
                with open(f"/proc/{group}/fd/2", "a") as driver_err:
                    driver_err.write(line)
            except OSError:
                pass
        if action == "raise":
            raise RuntimeError(f"fault injected at {name}")
        if action == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
            return True
        if group:
            # the stage's group (driver + JVM), then PySpark's daemon group (it runs
            # its workers in a process group of their own)
            try:
                os.killpg(int(group), signal.SIGKILL)
            finally:
                os.killpg(os.getpgrp(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
        return True

    return keep


@contextmanager
def on(name: str, callback: Callable[[], None]) -> Iterator[None]:
    """Run ``callback`` each time ``name`` is reached in this process (in-process tests)."""
    if not _known(name):
        raise FaultConfigError(f"unknown fault point {name!r}")
    _callbacks[name] = callback
    try:
        yield
    finally:
        _callbacks.pop(name, None)
