"""One writer per table: a lease object per Delta table, with a fencing token.

Delta on S3 (``S3SingleDriverLogStore``) does not stop two drivers from committing to
one table, so every stage that writes a table holds its lease while it runs:

* the lease is an object ``_leases/<table>.json`` in the lake (owner id, stage, host,
  pid, fencing ``token``, ``expires_at``), created with a conditional write
  (``If-None-Match: *``) and replaced only by compare-and-swap (``If-Match`` on the
  ETag; ``flock`` for a local lake);
* a second writer finds it held and waits up to ``MEDALLION_LEASE_WAIT_S``, then is
  refused with :class:`LeaseHeld` (exit code 5) naming the holder;
* the holder renews it every third of ``MEDALLION_LEASE_TTL_S`` from a thread; a
  holder that was SIGKILLed stops renewing, so its lease expires and the next writer
  takes it over with ``token + 1``;
* before every Delta commit the writer *fences*: it renews the lease by
  compare-and-swap, which fails if anyone took it over. A writer that lost its lease
  (paused past the TTL, partitioned) raises :class:`LeaseLost` and commits nothing.

The remaining window is a writer paused for longer than the TTL between its fence and
its commit's log write (seconds); the TTL is chosen far above that.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from medallion.common import faults
from medallion.common.config import Config
from medallion.common.storage import ObjectNotFound, ObjectStore, store_from_config

logger = logging.getLogger(__name__)

PREFIX = "_leases"
F = TypeVar("F", bound=Callable[..., Any])


class LeaseError(RuntimeError):
    """The one-writer rule refused this writer; the CLIs exit with code 5."""

    exit_code = 5


class LeaseHeld(LeaseError):
    """Another live writer holds the table's lease."""


class LeaseLost(LeaseError):
    """This writer's lease was taken over: it must not commit."""


def lease_key(table: str) -> str:
    return f"{PREFIX}/{table}.json"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class Lease:
    """The lease of one table held by this process."""

    def __init__(self, store: ObjectStore, table: str, stage: str, ttl_s: float) -> None:
        self.store = store
        self.table = table
        self.stage = stage
        self.ttl_s = ttl_s
        self.owner = uuid.uuid4().hex
        self.token = 0
        self.tag = ""
        self.lost: str | None = None
        self._lock = threading.Lock()

    def _record(self, token: int, expires_at: float, owner: str | None) -> bytes:
        return json.dumps(
            {
                "table": self.table,
                "owner": owner,
                "stage": self.stage,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "token": token,
                "expires_at": expires_at,
                "expires": _when(expires_at),
            }
        ).encode()

    def try_acquire(self) -> dict[str, Any] | None:
        """Take the lease if free, expired or released; else return the holder's record."""
        key = lease_key(self.table)
        try:
            data, tag = self.store.get_tagged(key)
        except ObjectNotFound:
            record = self._record(1, time.time() + self.ttl_s, self.owner)
            if not self.store.put_if_absent(key, record):
                return {"owner": "?", "stage": "a racing writer", "token": "?"}
            return self._confirm(1)
        current = json.loads(data)
        if current.get("owner") and float(current.get("expires_at", 0)) > time.time():
            return current
        token = int(current.get("token", 0)) + 1
        if current.get("owner"):
            logger.warning(
                "lease on %s expired (holder %s, %s pid %s on %s): taking it over with token %d",
                self.table,
                current.get("owner"),
                current.get("stage"),
                current.get("pid"),
                current.get("host"),
                token,
            )
        record = self._record(token, time.time() + self.ttl_s, self.owner)
        new_tag = self.store.replace_if(key, record, tag)
        if new_tag is None:
            return {"owner": "?", "stage": "a racing writer", "token": "?"}
        self.token, self.tag = token, new_tag
        return None

    def _confirm(self, token: int) -> dict[str, Any] | None:
        data, tag = self.store.get_tagged(lease_key(self.table))
        current = json.loads(data)
        if current.get("owner") != self.owner:
            return current  # another writer won the race
        self.token, self.tag = token, tag
        return None

    def renew(self) -> bool:
        """Extend the lease by compare-and-swap; False (and ``lost``) if it was taken."""
        with self._lock:
            if self.lost:
                return False
            key = lease_key(self.table)
            record = self._record(self.token, time.time() + self.ttl_s, self.owner)
            new_tag = self.store.replace_if(key, record, self.tag)
            if new_tag is not None:
                self.tag = new_tag
                return True
            try:
                holder = json.loads(self.store.get(key))
            except (ObjectNotFound, ValueError):
                holder = {}
            self.lost = (
                f"the lease on {self.table} was taken over by {holder.get('stage', '?')} "
                f"(owner {holder.get('owner', '?')}, pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, token {holder.get('token', '?')}); this writer "
                f"(token {self.token}) must not commit"
            )
            return False

    def fence(self) -> None:
        """Raise :class:`LeaseLost` unless this writer still holds the lease (renewed now)."""
        faults.point("lease.before_fence")
        if not self.renew():
            raise LeaseLost(self.lost or f"lease on {self.table} lost")

    def release(self) -> None:
        with self._lock:
            if self.lost or not self.tag:
                return
            record = self._record(self.token, 0.0, None)
            if self.store.replace_if(lease_key(self.table), record, self.tag) is None:
                logger.warning("lease on %s changed before release", self.table)


_active: dict[str, Lease] = {}


def table_of(path: str) -> str:
    """``silver/prices`` from a table path (``s3a://b/silver/prices``, ``/lake/gold/daily``)."""
    return "/".join(path.rstrip("/").split("/")[-2:])


def fence(path: str) -> None:
    """Before a commit to the table at ``path``: fence if this process holds its lease.

    Writers outside a stage (tests, notebooks) hold no lease and are not checked.
    """
    lease = _active.get(table_of(path))
    if lease is not None:
        lease.fence()


def acquire(
    store: ObjectStore, tables: Sequence[str], stage: str, ttl_s: float, wait_s: float
) -> list[Lease]:
    """Take the leases of ``tables`` (in name order), waiting at most ``wait_s``."""
    held: list[Lease] = []
    deadline = time.monotonic() + wait_s
    try:
        for table in sorted(tables):
            lease = Lease(store, table, stage, ttl_s)
            waited = False
            while (holder := lease.try_acquire()) is not None:
                if time.monotonic() >= deadline:
                    raise LeaseHeld(
                        f"{table} is being written by another {holder.get('stage', '?')} "
                        f"(owner {holder.get('owner', '?')}, pid {holder.get('pid', '?')} on "
                        f"{holder.get('host', '?')}, lease token {holder.get('token', '?')} "
                        f"until {holder.get('expires', '?')}): one writer per table; "
                        f"waited {wait_s:.0f}s (MEDALLION_LEASE_WAIT_S)"
                    )
                if not waited:
                    logger.warning("%s: lease on %s is held; waiting", stage, table)
                    waited = True
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
            held.append(lease)
            logger.info("%s holds the lease on %s (token %d)", stage, table, lease.token)
    except BaseException:
        for lease in held:
            lease.release()
        raise
    return held


class _Heartbeat(threading.Thread):
    def __init__(self, leases: list[Lease], every_s: float) -> None:
        super().__init__(name="lease-heartbeat", daemon=True)
        self.leases = leases
        self.every_s = every_s
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            for lease in self.leases:
                try:
                    if not lease.renew():
                        logger.error("%s", lease.lost)
                except Exception as exc:  # noqa: BLE001 - a failed renewal retries next beat
                    logger.warning("lease renewal of %s failed: %s", lease.table, exc)


def writer_lease(stage: str, *tables: str) -> Callable[[F], F]:
    """Decorate a stage's ``run_*(config, ...)``: hold the tables' leases while it runs."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(config: Config, *args: Any, **kwargs: Any) -> Any:
            store = store_from_config(config)
            leases = acquire(store, tables, stage, config.lease_ttl_s, config.lease_wait_s)
            beat = _Heartbeat(leases, config.lease_ttl_s / 3)
            for lease in leases:
                _active[lease.table] = lease
            beat.start()
            try:
                return fn(config, *args, **kwargs)
            finally:
                beat.done.set()
                beat.join()
                for lease in leases:
                    _active.pop(lease.table, None)
                    lease.release()

        return wrapper  # type: ignore[return-value]

    return decorate
