"""Strict schema validation of everything rendered, offline: Kubernetes objects
against the v1.36 standalone-strict schemas, Argo CD's kinds against strict schemas generated
(tools/crd_schemas.py) from the CRDs of the pinned release, as its Go module ships them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from kindstack import loose_argo_objects
from render import (
    KUBECONFORM,
    argocd_cache,
    argocd_version,
    find_kustomizations,
    manifest_root,
    schema_dir,
)

HERE = Path(__file__).resolve().parent
KUSTOMIZATIONS = find_kustomizations(manifest_root())


def argo_schemas() -> Path:
    return argocd_cache(argocd_version()) / "schemas"


def schema_locations() -> list[str]:
    # Kubernetes kinds, then Argo CD's kinds from the schemas generated from its real CRDs.
    return [
        "-schema-location",
        str(schema_dir()) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
        "-schema-location",
        str(argo_schemas()) + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
    ]


@pytest.fixture(scope="session")
def kubeconform_results(renders, tmp_path_factory):
    """Run kubeconform once over all renders; results grouped by rendered folder."""
    out = tmp_path_factory.mktemp("rendered-for-schema")
    files = {}
    for name, r in renders.items():
        if r.ok:
            f = out / (name.replace("/", "__") + ".yaml")
            f.write_text(r.text)
            files[str(f)] = name
    if not files:
        return {}
    p = subprocess.run(
        [str(KUBECONFORM), "-strict", "-output", "json", "-n", "2", *schema_locations(), *files],
        capture_output=True,
        text=True,
    )
    report = json.loads(p.stdout or "{}")
    results: dict[str, list[dict]] = {n: [] for n in files.values()}
    for res in report.get("resources") or []:
        results[files[res["filename"]]].append(res)
    assert p.returncode in (0, 1), f"kubeconform crashed: {p.stderr}"
    return results


@pytest.mark.parametrize("k", KUSTOMIZATIONS, ids=lambda k: k.rel)
def test_rendered_objects_match_strict_schemas(kubeconform_results, renders, k):
    if not renders[k.rel].ok:
        pytest.fail(f"{k.rel} does not render (see test_kustomization_renders)", pytrace=False)
    bad = [
        f"{r['kind']}/{r['name']}: {r['status']}: {r.get('msg', '')}"
        for r in kubeconform_results.get(k.rel, [])
        if r["status"] != "statusValid"
    ]
    assert not bad, (
        f"{k.rel}: objects fail strict schema validation (Kubernetes 1.36):\n" + "\n".join(bad)
    )


def _objects_without_strict_properties(node, path="$"):
    """Paths of object schemas that list properties but accept unknown ones."""
    out = []
    if isinstance(node, dict):
        if "properties" in node and node.get("additionalProperties") is not False:
            out.append(path)
        for k, v in node.items():
            out += _objects_without_strict_properties(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _objects_without_strict_properties(v, f"{path}[{i}]")
    return out


@pytest.mark.parametrize(
    "kind,spec_required",
    [("application", {"project", "destination"}), ("appproject", set())],
)
def test_argo_cd_schemas_come_from_the_release_crds(tools, kind, spec_required):
    """Application/AppProject are validated against schemas generated from the CRDs of the pinned
    release (never hand-written), strict at every level that lists fields."""
    f = argo_schemas() / "argoproj.io" / f"{kind}_v1alpha1.json"
    assert f.is_file(), f"{f} is missing: run `make manifest-tools`"
    s = json.loads(f.read_text())
    crd = yaml.safe_load((argocd_cache(argocd_version()) / "crds" / f"{kind}-crd.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    assert set(s["properties"]["spec"]["properties"]) == set(
        version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    ), "the schema's spec fields differ from the CRD's"
    assert s["properties"]["kind"] == {
        "enum": ["Application" if kind == "application" else "AppProject"]
    }
    assert s["properties"]["apiVersion"] == {"enum": ["argoproj.io/v1alpha1"]}
    assert set(s["properties"]["spec"].get("required") or []) >= spec_required
    assert s["properties"]["spec"].get("additionalProperties") is False


BAD_ARGO_OBJECTS = {
    "unknown source field": (
        """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: a, namespace: argocd}
spec:
  project: p
  destination: {server: "https://kubernetes.default.svc", namespace: z}
  source: {repoURL: "r", path: ".", targetRevision: HEAD, autoSync: true}
""",
        "autoSync",
    ),
    "unknown top-level spec key": (
        """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: a, namespace: argocd}
spec:
  project: p
  destination: {server: "https://kubernetes.default.svc", namespace: z}
  source: {repoURL: "r", path: ".", targetRevision: HEAD}
  syncpolicy: {automated: {prune: true}}
""",
        "syncpolicy",
    ),
    "missing destination": (
        """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: a, namespace: argocd}
spec:
  project: p
  source: {repoURL: "r", path: ".", targetRevision: HEAD}
""",
        "destination",
    ),
    "AppProject unknown spec key": (
        """apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: p, namespace: argocd}
spec:
  sourceRepos: [r]
  clusterResourceWhiteList: [{group: "", kind: Namespace}]
""",
        "clusterResourceWhiteList",
    ),
}


def _kubeconform_file(path: Path) -> dict[str, tuple[str, str]]:
    p = subprocess.run(
        [str(KUBECONFORM), "-strict", "-output", "json", *schema_locations(), str(path)],
        capture_output=True,
        text=True,
    )
    return {r["kind"]: (r["status"], r.get("msg", "")) for r in json.loads(p.stdout)["resources"]}


def test_schema_validation_rejects_unknown_fields(tmp_path, tools):
    """Guards the guard: the validator must be strict and must know Argo CD kinds."""
    f = tmp_path / "bad.yaml"
    f.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: z}\ndata: {a: b}\nunknownField: 1\n"
    )
    status, msg = _kubeconform_file(f)["ConfigMap"]
    assert status == "statusInvalid" and "unknownField" in msg


@pytest.mark.parametrize("case", list(BAD_ARGO_OBJECTS))
def test_argo_cd_schemas_reject_bad_objects(tmp_path, tools, case):
    text, needle = BAD_ARGO_OBJECTS[case]
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    ((status, msg),) = _kubeconform_file(f).values()
    assert status == "statusInvalid" and needle in msg, f"{case}: {status} {msg}"


def test_hand_applied_argo_cd_templates_match_their_schemas(root, tools, tmp_path):
    """The root Application/AppProject templates bootstrap/ applies (no kustomization includes them)."""
    loose = loose_argo_objects(root)
    if not loose:
        return
    f = tmp_path / "loose.yaml"
    f.write_text(yaml.safe_dump_all([o for _, o in loose]))
    p = subprocess.run(
        [str(KUBECONFORM), "-strict", "-verbose", "-output", "json", *schema_locations(), str(f)],
        capture_output=True,
        text=True,
    )
    res = json.loads(p.stdout)["resources"]
    assert len(res) == len(loose)
    src = {(o["kind"], o["metadata"]["name"]): s for s, o in loose}
    bad = [
        f"{src.get((r['kind'], r['name']))}: {r['kind']}/{r['name']}: {r['status']}: {r.get('msg', '')}"
        for r in res
        if r["status"] != "statusValid"
    ]
    assert not bad, "\n".join(bad)
