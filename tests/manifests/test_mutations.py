"""The suite proves itself: each test copies the manifest tree, breaks one thing
the way people do, renders the copy and asserts that the named check reports
a NEW problem about it (problems already present in the real tree don't count).
The real manifests are never touched."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import crosschecks as checks
import pytest
import yaml
from kindstack import Stack, render_stack_only
from render import copy_tree, key, pod_template

# --------------------------------------------------------------------------- helpers


def _docs(f: Path) -> list:
    return list(yaml.safe_load_all(f.read_text()))


def _write(f: Path, docs: list) -> None:
    f.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def find_source(root: Path, obj: dict) -> tuple[Path, list, int]:
    """The source file (under base/ or overlays/kind/) that defines obj; the base wins."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    for top in ("base", "overlays/kind"):
        for f in sorted((root / top).rglob("*.yaml")):
            if f.name.startswith("kustomization"):
                continue
            try:
                docs = _docs(f)
            except yaml.YAMLError:
                continue
            for i, d in enumerate(docs):
                if (
                    isinstance(d, dict)
                    and d.get("kind") == kind
                    and (d.get("metadata") or {}).get("name") == name
                    and "spec" in d
                    and d.get("apiVersion")
                ):
                    return f, docs, i
    pytest.fail(f"no source file found for {key(obj)}")


def first(stack: Stack, pred: Callable[[dict], bool], what: str) -> dict:
    """The first matching object of this repository's own services (not Argo CD's upstream install)."""
    for _, o in stack.objects:
        if (o.get("metadata") or {}).get("namespace") in checks.CONTRACT_NAMESPACES and pred(o):
            return o
    pytest.fail(f"the kind stack has no {what} to mutate")


def _workload(o):
    return o.get("kind") in ("Deployment", "StatefulSet") and pod_template(o) is not None


def _pod_spec(doc):
    return pod_template(doc)["spec"]


# --------------------------------------------------------------------------- mutations
# Each returns a substring the new problem must contain.


def wrong_target_port(root: Path, base: Stack) -> str:
    svc = first(
        base,
        lambda o: o.get("kind") == "Service" and (o.get("spec") or {}).get("selector"),
        "Service with a selector",
    )
    f, docs, i = find_source(root, svc)
    docs[i]["spec"]["ports"][0]["targetPort"] = 65000
    _write(f, docs)
    return "targetPort 65000"


def nodeport_not_in_kind_config(root: Path, base: Stack) -> str:
    for f in sorted((root / "overlays" / "kind").rglob("*.yaml")):
        text = f.read_text()
        if re.search(r"nodePort:\s*\d+", text):
            f.write_text(re.sub(r"nodePort:\s*\d+", "nodePort: 31999", text, count=1))
            return "nodePort 31999 has no extraPortMappings"
    pytest.fail("no nodePort in overlays/kind to mutate")


def kind_config_port_dropped(root: Path, base: Stack) -> str:
    f = root / "kind-config.yaml"
    cfg = yaml.safe_load(f.read_text())
    node = next(n for n in cfg["nodes"] if n.get("extraPortMappings"))
    dropped = node["extraPortMappings"].pop()
    f.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return f"nodePort {dropped['containerPort']} has no extraPortMappings"


def missing_secret(root: Path, base: Stack) -> str:
    w = first(base, _workload, "Deployment or StatefulSet")
    f, docs, i = find_source(root, w)
    c = _pod_spec(docs[i])["containers"][0]
    c.setdefault("env", []).append(
        {
            "name": "MUTANT",
            "valueFrom": {"secretKeyRef": {"name": "not-created-anywhere", "key": "password"}},
        }
    )
    _write(f, docs)
    return "not-created-anywhere, which is neither rendered"


def missing_configmap_key(root: Path, base: Stack) -> str:
    cm = first(
        base, lambda o: o.get("kind") == "ConfigMap" and o.get("data"), "ConfigMap with data"
    )
    w = first(
        base,
        lambda o: (
            _workload(o) and o["metadata"].get("namespace") == cm["metadata"].get("namespace")
        ),
        f"workload in namespace {cm['metadata'].get('namespace')}",
    )
    f, docs, i = find_source(root, w)
    # kustomize rewrites generated names (hash suffix) only for the name it generated,
    # so refer to the rendered name the pods already see
    _pod_spec(docs[i])["containers"][0].setdefault("env", []).append(
        {
            "name": "MUTANT",
            "valueFrom": {
                "configMapKeyRef": {"name": cm["metadata"]["name"], "key": "NO_SUCH_KEY"}
            },
        }
    )
    _write(f, docs)
    return "reads key 'NO_SUCH_KEY'"


def docker_hub_minio(root: Path, base: Stack) -> str:
    w = first(base, _workload, "Deployment or StatefulSet")
    f, docs, i = find_source(root, w)
    _pod_spec(docs[i])["containers"][0]["image"] = "minio/minio:RELEASE.2025-09-07T16-13-09Z"
    _write(f, docs)
    return "Docker Hub minio/minio"


def namespace_owned_twice(root: Path, base: Stack) -> str:
    app = next((a for a in base.apps if a.dest_ns == "storage" and a.paths()), None)
    if app is None:
        pytest.fail("no Application deploys to namespace storage")
    d = root / app.paths()[0]
    (d / "namespace-mutant.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: storage\n"
    )
    kf = d / "kustomization.yaml"
    k = yaml.safe_load(kf.read_text())
    k.setdefault("resources", []).append("./namespace-mutant.yaml")
    kf.write_text(yaml.safe_dump(k, sort_keys=False))
    return "namespace 'storage' is owned by 2"


def hard_coded_repo_url(root: Path, base: Stack) -> str:
    urls = sorted(checks.repo_urls(base))
    if not urls:
        pytest.fail("no repository URL found in the Applications")
    for f in sorted((root / "clusters" / "kind").rglob("*.yaml")):
        docs = _docs(f)
        for d in docs:
            if (
                isinstance(d, dict)
                and d.get("kind") == "Application"
                and (d.get("spec") or {}).get("source")
            ):
                d["spec"]["source"]["repoURL"] = urls[0].removesuffix(".git")
                _write(f, docs)
                return "must be written in exactly one file"
    pytest.fail("no Application with spec.source under clusters/kind")


def sync_wave_out_of_order(root: Path, base: Stack) -> str:
    for f in sorted((root / "clusters" / "kind").rglob("*.yaml")):
        docs = _docs(f)
        for d in docs:
            if (
                isinstance(d, dict)
                and d.get("kind") == "Application"
                and (d.get("spec") or {}).get("destination", {}).get("namespace") == "metabase"
            ):
                d["metadata"].setdefault("annotations", {})["argocd.argoproj.io/sync-wave"] = "-10"
                _write(f, docs)
                return "sync waves out of order"
    pytest.fail("no metabase Application under clusters/kind")


def default_project(root: Path, base: Stack) -> str:
    for f in sorted((root / "clusters" / "kind").rglob("*.yaml")):
        docs = _docs(f)
        for d in docs:
            if isinstance(d, dict) and d.get("kind") == "Application":
                d["spec"]["project"] = "default"
                _write(f, docs)
                return "built-in 'default' project"
    pytest.fail("no Application under clusters/kind")


def default_deny_removed(root: Path, base: Stack) -> str:
    for f in sorted((root / "base").rglob("networkpolicy-default-deny.yaml")):
        ns = yaml.safe_load((f.parent / "kustomization.yaml").read_text()).get("namespace")
        f.write_text(_allow_all(f))
        return f"Namespace {ns}: no default-deny NetworkPolicy"
    pytest.fail("no base/*/networkpolicy-default-deny.yaml")


def _allow_all(f: Path) -> str:
    d = yaml.safe_load(f.read_text())
    d["spec"]["ingress"] = [{}]  # an allow-all rule turns the deny into an allow
    return yaml.safe_dump(d, sort_keys=False)


def service_selector_typo(root: Path, base: Stack) -> str:
    svc = first(
        base,
        lambda o: o.get("kind") == "Service" and (o.get("spec") or {}).get("selector"),
        "Service with a selector",
    )
    f, docs, i = find_source(root, svc)
    docs[i]["spec"]["selector"] = {"app.kubernetes.io/name": "no-such-pod"}
    _write(f, docs)
    return "matches no pod template"


def psa_label_removed(root: Path, base: Stack) -> str:
    for f in sorted((root / "base" / "namespaces").glob("namespace-*.yaml")):
        d = yaml.safe_load(f.read_text())
        if "pod-security.kubernetes.io/enforce" in (d["metadata"].get("labels") or {}):
            del d["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            f.write_text(yaml.safe_dump(d, sort_keys=False))
            return f"Namespace {d['metadata']['name']}: no valid pod-security.kubernetes.io/enforce"
    pytest.fail("no base/namespaces/namespace-*.yaml with a PSA enforce label")


def checkov_skip_without_reason(root: Path, base: Stack) -> str:
    w = first(base, _workload, "Deployment or StatefulSet")
    f, docs, i = find_source(root, w)
    docs[i]["metadata"].setdefault("annotations", {})["checkov.io/skip9"] = "CKV_K8S_43"
    _write(f, docs)
    return "checkov.io/skip9: 'CKV_K8S_43' is not"


def kind_not_permitted_by_project(root: Path, base: Stack) -> str:
    w = first(base, _workload, "Deployment or StatefulSet")
    f, docs, i = find_source(root, w)
    docs.append(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "mutant"},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": w["kind"],
                    "name": w["metadata"]["name"],
                },
                "maxReplicas": 2,
            },
        }
    )
    _write(f, docs)
    return "HorizontalPodAutoscaler"


def downward_api_annotation_typo(root: Path, base: Stack) -> str:
    for f in sorted((root / "clusters" / "kind").rglob("*.yaml")):
        text = f.read_text()
        if "commonAnnotations" in text and "data-stack-k8s.io/repo-url:" in text:
            f.write_text(text.replace("data-stack-k8s.io/repo-url:", "data-stack-k8s.io/repo-URL:"))
            return "reads metadata.annotations['data-stack-k8s.io/repo-url']"
    pytest.fail("no Application under clusters/kind sets the repo-url commonAnnotation")


def contract_key_renamed(root: Path, base: Stack) -> str:
    hits = [
        f
        for top in ("base", "overlays/kind")
        for f in sorted((root / top).rglob("*"))
        if f.is_file() and "INGESTOR_IMAGE" in f.read_text(errors="replace")
    ]
    if not hits:
        pytest.fail("INGESTOR_IMAGE is written nowhere under base/ or overlays/kind/")
    for f in hits:
        f.write_text(f.read_text().replace("INGESTOR_IMAGE", "INGEST_IMAGE"))
    return "lacks keys ['INGESTOR_IMAGE']"


def project_after_its_application(root: Path, stack: Stack) -> str:
    f = root / "clusters/kind/projects/argocd.yaml"
    f.write_text(f.read_text().replace('argocd.argoproj.io/sync-wave: "-2"', 'argocd.argoproj.io/sync-wave: "0"'))
    return "uses AppProject argocd of wave 0"


def redis_token_removed(root: Path, stack: Stack) -> str:
    f = root / "clusters/kind/argocd/patch-pod-security.yaml"
    f.write_text(
        f.read_text()
        + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: argocd-redis\n"
        "spec:\n  template:\n    spec:\n      automountServiceAccountToken: false\n"
    )
    return "calls the Kubernetes API, but the pod's automountServiceAccountToken is false"


MUTATIONS = {
    "AppProject-after-its-Application": (project_after_its_application, checks.check_projects),
    "redis-API-token-removed": (
        redis_token_removed,
        lambda s: checks.check_api_token_where_needed(s.objects),
    ),
    "wrong-targetPort": (wrong_target_port, checks.check_services),
    "nodePort-not-in-kind-config": (nodeport_not_in_kind_config, checks.check_nodeports),
    "kind-config-mapping-dropped": (kind_config_port_dropped, checks.check_nodeports),
    "missing-Secret": (missing_secret, checks.check_references),
    "missing-ConfigMap-key": (missing_configmap_key, checks.check_references),
    "image-docker-hub-minio": (docker_hub_minio, lambda s: checks.check_images(s.objects)),
    "namespace-owned-twice": (namespace_owned_twice, checks.check_namespace_ownership),
    "hard-coded-repo-URL": (hard_coded_repo_url, checks.check_repo_url_single_place),
    "sync-wave-out-of-order": (sync_wave_out_of_order, checks.check_sync_waves),
    "default-project": (default_project, checks.check_applications),
    "default-deny-opened": (default_deny_removed, checks.check_namespaces),
    "service-selector-typo": (service_selector_typo, checks.check_services),
    "psa-label-removed": (psa_label_removed, checks.check_namespaces),
    "checkov-skip-without-reason": (
        checkov_skip_without_reason,
        lambda s: checks.check_checkov_skip_annotations(s.objects),
    ),
    "kind-not-permitted-by-AppProject": (
        kind_not_permitted_by_project,
        checks.check_project_permissions,
    ),
    "git-sync-annotation-typo": (downward_api_annotation_typo, checks.check_downward_api),
    "contract-ConfigMap-key-renamed": (contract_key_renamed, checks.check_contract),
}


@pytest.fixture(scope="module")
def baseline(tools, root) -> Stack:
    return render_stack_only(root)


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_is_caught(name, baseline, root, tmp_path):
    mutate, check = MUTATIONS[name]
    mutant = copy_tree(root, tmp_path / "mutant")
    expect = mutate(mutant, baseline)
    before = set(check(baseline))
    after = render_stack_only(mutant)
    new = [p for p in check(after) if p not in before]
    assert any(expect in p for p in new), (
        f"mutation {name!r} was not caught by {getattr(check, '__name__', 'check')}: expected a new problem "
        f"containing {expect!r}; new problems: {new}"
    )


# The Pod Security and image-pinning rules are checkov's (no copy of them in crosschecks.py):
# this proves checkov, as the suite runs it, catches the ways people break them.
CHECKOV_MUTATIONS = {
    "CKV_K8S_20": lambda c: c.setdefault("securityContext", {}).update(allowPrivilegeEscalation=True),
    "CKV_K8S_22": lambda c: c.setdefault("securityContext", {}).update(readOnlyRootFilesystem=False),
    "CKV_K8S_11": lambda c: (c.get("resources") or {}).get("limits", {}).pop("cpu", None),
    "CKV_K8S_13": lambda c: (c.get("resources") or {}).get("limits", {}).pop("memory", None),
    "CKV_K8S_14": lambda c: c.update(image="docker.io/library/busybox:latest"),
    "CKV_K8S_8": lambda c: c.pop("livenessProbe", None),
}


def test_checkov_catches_broken_pod_security_and_images(baseline, root, tmp_path):
    from checkov_run import deployable, run_checkov

    def failures(stack: Stack, out: Path) -> set[tuple[str, str]]:
        out.mkdir()
        failed, _ = run_checkov(deployable(stack.renders), out)
        return {(c["check_id"], c["resource"]) for c in failed}

    w = first(baseline, lambda o: _workload(o) and _containers_have_probes(o), "probed workload")
    mutant = copy_tree(root, tmp_path / "mutant")
    f, docs, i = find_source(mutant, w)
    container = _pod_spec(docs[i])["containers"][0]
    for mutate in CHECKOV_MUTATIONS.values():
        mutate(container)
    _write(f, docs)
    before = failures(baseline, tmp_path / "checkov-baseline")
    after = failures(render_stack_only(mutant), tmp_path / "checkov-mutant")
    name = w["metadata"]["name"]
    caught = {check for check, resource in after - before if name in resource}
    missed = sorted(set(CHECKOV_MUTATIONS) - caught)
    assert not missed, f"checkov did not catch {missed} on {key(w)}; new failures: {after - before}"


def _containers_have_probes(o) -> bool:
    return all(c.get("livenessProbe") for c in _pod_spec(o)["containers"])
