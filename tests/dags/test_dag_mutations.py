"""The pod-vs-manifests cross-checks fail when the manifests drift from the DAGs.

Each case copies the repository, changes one name the DAGs depend on, re-renders
the kind cluster and expects a problem that names it.
"""

from __future__ import annotations

from pathlib import Path

import dag_harness as h
import pytest
from render import copy_tree

MUTATIONS = {
    "configmap renamed in base": (
        "base/medallion/configmap.yaml",
        "name: medallion-config",
        "name: medallion-settings",
        # The kind overlay patches medallion-config (the source), so its render already fails.
        "failed to find unique target for patch ConfigMap.v1.[noGrp]/medallion-config",
    ),
    "namespace renamed in base": (
        "base/namespaces/namespace-medallion.yaml",
        "name: medallion",
        "name: jobs",
        "namespace 'medallion' is not rendered",
    ),
    "job namespace moved by the overlay": (
        "overlays/kind/medallion/kustomization.yaml",
        "namespace: medallion",
        "namespace: jobs",
        "ServiceAccount medallion/medallion-job is not rendered",
    ),
    "service account renamed": (
        "base/medallion/serviceaccount.yaml",
        "name: medallion-job",
        "name: medallion-runner",
        "ServiceAccount medallion/medallion-job is not rendered",
    ),
    "token automount switched on": (
        "base/medallion/serviceaccount.yaml",
        "automountServiceAccountToken: false",
        "automountServiceAccountToken: true",
        "disables token automount",
    ),
    "secret renamed in bootstrap": (
        "bootstrap/secrets.yaml",
        "name: medallion-s3",
        "name: medallion-minio",
        "Secret medallion/medallion-s3 (envFrom) is neither rendered nor listed",
    ),
    "image key renamed in the overlay": (
        "overlays/kind/airflow/images.env",
        "INGESTOR_IMAGE=",
        "INGEST_IMAGE=",
        "INGESTOR_IMAGE",
    ),
    "limit range tightened below the pod": (
        "base/medallion/limitrange.yaml",
        "memory: 4Gi",
        "memory: 1Gi",
        "exceeds LimitRange max",
    ),
}


@pytest.fixture(scope="module")
def baseline_pods(renders) -> dict[str, dict]:
    return {task_id: t["pod"] for task_id, t in renders["tue"].items()}


def _mutate(tmp_path: Path, rel: str, old: str, new: str) -> h.Cluster:
    root = copy_tree(h.REPO_ROOT, tmp_path / "repo")
    f = root / rel
    text = f.read_text()
    assert old in text, f"mutation target {old!r} not found in {rel}: update this test"
    f.write_text(text.replace(old, new, 1))
    return h.render_cluster(root)


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_cross_check_catches(name, tmp_path, baseline_pods, images):
    rel, old, new, expected = MUTATIONS[name]
    try:
        mutated = _mutate(tmp_path, rel, old, new)
        mutated_images = h.images_env(mutated)
        problems = [
            p
            for stage, pod in baseline_pods.items()
            for p in h.pod_problems(pod, mutated, mutated_images, h.STAGE_IMAGE_KEYS[stage])
        ]
    except h.HarnessError as exc:  # e.g. the overlay itself no longer renders
        problems = [str(exc)]
    assert any(expected in p for p in problems), problems


def test_launcher_check_catches_a_missing_verb_and_a_missing_images_configmap(tmp_path):
    role = "base/airflow/medallion-rbac/role.yaml"
    mutated = _mutate(
        tmp_path / "a",
        role,
        "verbs: [create, get, list, watch, patch, delete]",
        "verbs: [create, get, list, watch, patch]",
    )
    assert any("may not ['delete'] pods" in p for p in h.launcher_problems(mutated))
    sched = "base/airflow/deployment-scheduler.yaml"
    mutated = _mutate(tmp_path / "b", sched, "name: medallion-images", "name: other-images")
    assert any(
        "airflow-scheduler does not load ConfigMap medallion-images" in p
        for p in h.launcher_problems(mutated)
    )
