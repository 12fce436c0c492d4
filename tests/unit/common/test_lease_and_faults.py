"""Table leases on a local lake (compare-and-swap with flock) and the fault-point parser.

The two-process proofs (SIGKILL, takeover, fencing of a resumed writer) run on MinIO in
tests/integration/faults/.
"""

from __future__ import annotations

import json
import time

import pytest

from medallion.common import faults
from medallion.common.lease import LeaseHeld, LeaseLost, acquire, lease_key
from medallion.common.storage import LocalStore


def test_second_writer_is_refused_with_the_holder_named(tmp_path):
    store = LocalStore(tmp_path)
    [first] = acquire(store, ["silver/prices"], "transform", ttl_s=60, wait_s=0)
    with pytest.raises(LeaseHeld, match=r"silver/prices is being written by another transform"):
        acquire(store, ["silver/prices"], "transform", ttl_s=60, wait_s=0)
    first.fence()  # the holder still may commit
    first.release()
    [again] = acquire(store, ["silver/prices"], "transform", ttl_s=60, wait_s=0)
    assert again.token == first.token + 1, "tokens only grow, even after a release"


def test_expired_lease_is_taken_over_and_the_old_holder_is_fenced(tmp_path):
    store = LocalStore(tmp_path)
    [old] = acquire(store, ["gold/daily"], "aggregate", ttl_s=1, wait_s=0)
    record = json.loads(store.get(lease_key("gold/daily")))
    # the old holder stops renewing (as if SIGKILLed or paused): wait out its expiry
    while time.time() <= record["expires_at"]:
        time.sleep(0.05)
    [new] = acquire(store, ["gold/daily"], "aggregate", ttl_s=60, wait_s=0)
    assert new.token == old.token + 1
    with pytest.raises(LeaseLost, match=r"taken over by aggregate .* token 2.*must not commit"):
        old.fence()
    new.fence()


def test_fault_spec_is_parsed_and_typos_fail_loudly():
    assert faults.parse("publish.copy#3:stop, delta.write:silver/prices:kill") == {
        "publish.copy": (3, "stop"),
        "delta.write:silver/prices": (1, "kill"),
    }
    with pytest.raises(faults.FaultConfigError, match="MEDALLION_FAULT"):
        faults.parse("transform.after_price:kill")
    with pytest.raises(faults.FaultConfigError):
        faults.parse("publish.copy:explode")


def test_raise_action_fires_at_the_nth_hit_only():
    faults.arm("publish.copy#2:raise")
    try:
        faults.point("publish.copy")
        with pytest.raises(faults.FaultInjected, match="publish.copy"):
            faults.point("publish.copy")
        faults.point("publish.copy")
    finally:
        faults.arm("")


def _worker_rows(name: str, action: str, rows: int, result) -> None:
    """One forked "Python worker": run the stage's row filter over ``rows`` rows."""
    keep = faults.worker_filter(name, action)
    fired = 0
    for value in range(rows):
        try:
            keep(value)
        except RuntimeError:
            fired += 1
    result.put(fired)


def test_a_delta_write_fault_fires_in_one_python_worker_of_the_stage_only():
    # PySpark forks a worker per concurrent task from one daemon; each has an environment
    # of its own. A stop resumed by the test must not be followed by a second worker
    # stopping itself at the same point (the stage would hang for ever).
    import multiprocessing

    faults.arm("delta.write:silver/prices:raise")
    try:
        fork = multiprocessing.get_context("fork")
        result = fork.Queue()
        workers = [
            fork.Process(
                target=_worker_rows, args=("delta.write:silver/prices", "raise", 5, result)
            )
            for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        fired = sorted(result.get(timeout=10) for _ in workers)
    finally:
        faults.arm("")
    assert fired == [0, 0, 1], f"fires per worker: {fired}"
