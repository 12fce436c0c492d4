"""The whole kind stack fits a laptop: requests <= 4 GiB memory and <= 2 CPU cores."""

from __future__ import annotations

import crosschecks as checks

MAX_MEMORY = 4 * 2**30
MAX_CPU = 2.0


def test_footprint_within_budget(stack):
    cpu, mem, rows = checks.footprint(stack)
    summary = (
        f"kind stack requests: cpu {cpu * 1000:.0f}m of {MAX_CPU * 1000:.0f}m, "
        f"memory {mem / 2**20:.0f}Mi of {MAX_MEMORY / 2**20:.0f}Mi"
    )
    print("\n" + "\n".join(rows) + "\n" + summary)
    checks.REPORT.append(summary)
    assert rows, "no pod template in the kind stack"
    assert cpu <= MAX_CPU and mem <= MAX_MEMORY, summary + "\n" + "\n".join(rows)


def test_pod_requests_follow_the_init_container_rules():
    """Guards the guard: init containers count as a max, sidecars add up."""

    def c(cpu, mem, **kw):
        return {"resources": {"requests": {"cpu": cpu, "memory": mem}}, **kw}

    spec = {
        "containers": [c("100m", "100Mi"), c("200m", "100Mi")],
        "initContainers": [c("1", "50Mi"), c("50m", "1Gi")],
    }
    assert checks.pod_requests(spec) == (1.0, 2**30)
    spec = {
        "containers": [c("100m", "100Mi")],
        "initContainers": [c("100m", "10Mi", restartPolicy="Always"), c("150m", "10Mi")],
    }
    cpu, mem = checks.pod_requests(spec)
    assert round(cpu, 3) == 0.25 and mem == 110 * 2**20


# The steady state plus a running stage pod is checked in tests/dags/test_footprint_with_a_stage_pod.py,
# with the pod the DAG really builds.
