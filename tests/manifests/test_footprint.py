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


def test_footprint_while_a_job_pod_runs(stack):
    """Steady state (Deployments/StatefulSets; one-shot Jobs have finished) plus one medallion
    stage pod sized by the LimitRange defaultRequest in ns medallion (the DAG runs stages in
    sequence, one pod at a time)."""
    cpu = mem = 0.0
    for _, o, tpl in checks._pod_templates(stack):
        if o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
            n = (o.get("spec") or {}).get("replicas", 1) if o["kind"] != "DaemonSet" else 2
            c, m = checks.pod_requests(tpl.get("spec") or {})
            cpu, mem = cpu + n * c, mem + n * m
    job_cpu = job_mem = 0.0
    for _, lr in stack.of_kind("LimitRange"):
        if lr["metadata"].get("namespace") == "medallion":
            for lim in lr["spec"].get("limits") or []:
                if lim.get("type") == "Container":
                    d = lim.get("defaultRequest") or {}
                    job_cpu = max(job_cpu, checks.quantity(d.get("cpu", 0)))
                    job_mem = max(job_mem, checks.quantity(d.get("memory", 0)))
    assert job_mem, "no LimitRange with a Container defaultRequest in namespace medallion"
    summary = (
        f"steady state cpu {cpu * 1000:.0f}m memory {mem / 2**20:.0f}Mi; with one medallion job pod "
        f"(+{job_cpu * 1000:.0f}m, +{job_mem / 2**20:.0f}Mi): cpu {(cpu + job_cpu) * 1000:.0f}m, "
        f"memory {(mem + job_mem) / 2**20:.0f}Mi (budget {MAX_CPU * 1000:.0f}m, {MAX_MEMORY / 2**20:.0f}Mi)"
    )
    print("\n" + summary)
    checks.REPORT.append(summary)
    assert cpu + job_cpu <= MAX_CPU and mem + job_mem <= MAX_MEMORY, summary
