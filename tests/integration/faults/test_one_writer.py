"""One writer per table, proven with real processes: refusal, takeover after expiry, fencing.

A first transform stops itself (SIGSTOP) right after its silver/prices commit, still
holding the silver leases. A second transform started meanwhile is refused (exit 5)
and names the holder. Once the stopped writer's lease has expired (it cannot renew
while stopped, exactly like a SIGKILLed or partitioned pod), a third transform takes
the lease over with the next fencing token and completes. When the first one is
continued it finds its lease taken, exits 5 and commits nothing more.
"""

from __future__ import annotations

import json
import time

from medallion.common.delta import latest_version
from medallion.common.lease import lease_key
from medallion.common.storage import store_from_config
from tests.canonical import canonical
from tests.integration.faults.conftest import bind_bucket, run_in_process
from tests.integration.faults.report import record

SILVER = ("prices", "quarantine", "_processed")


def versions(spark, config) -> dict[str, int]:
    return {t: latest_version(spark, config.lake_path("silver", t)) for t in SILVER}


def test_second_writer_refused_expired_lease_taken_over_stale_writer_fenced(
    new_lake, lake_spark, baseline
):
    lake = new_lake()
    bind_bucket(lake_spark, lake)
    config = lake.config
    store = store_from_config(config)
    run_in_process(lake_spark, lake, "ingest")

    first = lake.start("transform", "transform.after_prices:stop")
    first.wait_stopped()
    held = json.loads(store.get(lease_key("silver/prices")))
    assert held["pid"] == first.pid and held["owner"]

    second = lake.run("transform", MEDALLION_LEASE_WAIT_S="0")
    assert second.returncode == 5, second.output[-3000:]
    assert "is being written by another transform" in second.output
    assert f"pid {first.pid}" in second.output

    # the stopped writer cannot renew: wait for its lease to run out (a condition, not a
    # duration under test), then a new writer takes it over and does the whole job
    while time.time() <= held["expires_at"]:
        time.sleep(0.2)
    third = lake.run("transform")
    assert third.returncode == 0, third.output[-3000:]
    assert "taking it over with token 2" in third.output
    taken = json.loads(store.get(lease_key("silver/prices")))
    assert taken["token"] == held["token"] + 1
    after_third = versions(lake_spark, config)

    first.resume()
    assert first.wait() == 5, first.output[-3000:]
    assert "must not commit" in first.output
    assert versions(lake_spark, config) == after_third, "the fenced writer committed nothing"
    got = canonical(lake_spark, config, store=store, layers=("bronze", "silver", "quarantine"))
    assert got.diff(baseline) == {}
    record(
        "one_writer",
        {
            "refused_exit_code": second.returncode,
            "takeover_token": taken["token"],
            "fenced_exit_code": first.returncode,
        },
    )
