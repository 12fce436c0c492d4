"""The kind stack in steady state (Deployments and StatefulSets; one-shot Jobs have finished)
plus the largest stage pod the DAG really builds (its KubernetesPodOperator's pod, as Airflow
renders it) fits the laptop budget. The DAG runs its stages one after the other, so one such
pod runs at a time."""

from __future__ import annotations

import crosschecks as checks
from kindstack import build_stack
from render import manifest_root, render_all

MAX_MEMORY = 4 * 2**30
MAX_CPU = 2.0


def _steady_state() -> tuple[float, float]:
    root = manifest_root()
    stack = build_stack(render_all(root), root)
    cpu = mem = 0.0
    for _, o, tpl in checks._pod_templates(stack):
        if o.get("kind") in ("Deployment", "StatefulSet"):
            n = (o.get("spec") or {}).get("replicas", 1)
            c, m = checks.pod_requests(tpl.get("spec") or {})
            cpu, mem = cpu + n * c, mem + n * m
    return cpu, mem


def test_footprint_while_the_largest_stage_pod_runs(report):
    pods = [t["pod"] for r in report["renders"] for t in r["tasks"].values() if t.get("pod")]
    assert pods, "the DAG report built no pod"
    job_cpu, job_mem = max((checks.pod_requests(p["spec"]) for p in pods), key=lambda cm: cm[1])
    assert job_mem > 0, "the DAG's stage pods request no memory (the LimitRange default would apply)"
    cpu, mem = _steady_state()
    summary = (
        f"steady state cpu {cpu * 1000:.0f}m memory {mem / 2**20:.0f}Mi; with the largest stage pod the DAG builds "
        f"(+{job_cpu * 1000:.0f}m, +{job_mem / 2**20:.0f}Mi): cpu {(cpu + job_cpu) * 1000:.0f}m, "
        f"memory {(mem + job_mem) / 2**20:.0f}Mi (budget {MAX_CPU * 1000:.0f}m, {MAX_MEMORY / 2**20:.0f}Mi)"
    )
    print("\n" + summary)
    assert cpu + job_cpu <= MAX_CPU and mem + job_mem <= MAX_MEMORY, summary
