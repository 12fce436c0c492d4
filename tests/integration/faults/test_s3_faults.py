"""S3 misbehaving, not gone: 503 SlowDown, reset connections and a stall, injected by a
fault proxy (s3_proxy.py) between a stage's own process and the real MinIO.

Each stage under test stops itself (SIGSTOP) at a named point, the proxy switches to a
fault, and the stage continues. A brown-out within the retry budget is ridden out; a
fault that lasts fails the stage within a bound, with exit code 3 and a message naming
the S3 server, and nothing half-written becomes visible. The next run completes and
every layer equals an uninterrupted run.
"""

from __future__ import annotations

import time

from medallion.common.storage import store_from_config
from tests.canonical import canonical
from tests.integration.faults.conftest import bind_bucket, run_in_process
from tests.integration.faults.report import record_outcome
from tests.integration.faults.s3_proxy import FaultProxy

# A short S3 timeout keeps the stall scenario quick; production uses the default (30 s).
S3_TIMEOUT_S = 1
# The brown-out: 503 SlowDown answers and reset connections, one per new connection.
BROWNOUT = ("slowdown", "slowdown", "reset", "slowdown", "reset")
# The bound a lasting fault must fail within, from the moment it starts: the retry
# budget of one S3 call (attempts x timeout, with backoff) over the few calls a Delta
# commit makes, with room for a loaded 2-core machine. Not a speed target: a stage that
# hangs on a stalled server for ever, or retries unboundedly, exceeds it by far.
FAIL_WITHIN_S = 240


def test_a_brownout_is_ridden_out_and_a_stall_fails_within_a_bound(
    new_lake, lake_spark, baseline, fault_servers
):
    lake = new_lake()
    bind_bucket(lake_spark, lake)
    config = lake.config
    store = store_from_config(config)
    run_in_process(lake_spark, lake, "ingest")
    tried: list[str] = []

    with FaultProxy(fault_servers.minio.port) as proxy:
        via_proxy = {"S3_ENDPOINT_URL": proxy.endpoint, "S3_TIMEOUT_S": str(S3_TIMEOUT_S)}
        named = f"S3 server at {proxy.endpoint}"

        def lasting_fault(stage: str, point: str, mode: str) -> str:
            """Run ``stage`` through the proxy, switch it to ``mode`` at ``point`` for good;
            the stage must fail with exit 3 naming the server within the bound."""
            proc = lake.start(stage, f"{point}:stop", **via_proxy)
            proc.wait_stopped()
            proxy.set(mode)
            began = time.monotonic()
            proc.resume()
            code = proc.wait()
            took = time.monotonic() - began
            faulted = proxy.faulted
            proxy.set("pass")
            assert code == 3, f"{mode}: exit {code}\n{proc.output[-3000:]}"
            assert named in proc.output, proc.output[-3000:]
            assert took < FAIL_WITHIN_S, f"{mode}: failed only after {took:.0f}s"
            assert faulted > 0, f"{mode}: the stage never met the fault"
            return f"{mode} at {point}: exit 3 after {took:.0f}s, {faulted} connections faulted"

        # A stall after silver's tables committed, before the manifest: exit 3 in bound.
        tried.append(lasting_fault("transform", "transform.before_manifest", "stall"))

        # A brown-out inside the Delta write: the S3 clients back off, retry on new
        # connections, and the transform completes.
        proc = lake.start("transform", "delta.write:silver/prices:stop", **via_proxy)
        proc.wait_stopped()
        proxy.brownout(*BROWNOUT)
        proc.resume()
        assert proc.wait(bound_s=2 * FAIL_WITHIN_S) == 0, proc.output[-3000:]
        assert proxy.faulted == len(BROWNOUT), f"only {proxy.faulted} faults were met"
        tried.append(f"brown-out {'+'.join(BROWNOUT)} inside the silver/prices write: completed")
        silver = canonical(lake_spark, config, store=store, layers=("silver", "quarantine"))
        assert silver.diff(baseline) == {}

    run_in_process(lake_spark, lake, "aggregate", "publish")
    diff = canonical(lake_spark, config, lake.dsn, store).diff(baseline)
    record_outcome("s3_faults", diff, faults=tried)
    assert diff == {}
