"""Every kustomization renders with the Kustomize version Argo CD bundles."""

from __future__ import annotations

import pytest
from render import (
    find_kustomizations,
    kustomize_version,
    manifest_root,
    pinned_versions,
    upstream_copy_for,
)

KUSTOMIZATIONS = find_kustomizations(manifest_root())
REQUIRED = [
    "base/namespaces",
    "base/minio",
    "base/postgres",
    "base/airflow",
    "base/medallion",
    "base/metabase",
    "base/jupyter",
    "overlays/kind/airflow",
    "clusters/kind",
]


def test_kustomize_is_the_version_argo_cd_bundles(tools):
    want = "v" + pinned_versions()["KUSTOMIZE_VERSION"]
    assert want == "v5.8.3", (
        "Argo CD v3.6.2 bundles Kustomize 5.8.3 (its hack/tool-versions.sh); change the pin only with Argo CD"
    )
    assert kustomize_version() == want


def test_expected_kustomizations_exist():
    have = {k.rel for k in KUSTOMIZATIONS}
    missing = [d for d in REQUIRED if not any(h == d or h.startswith(d + "/") for h in have)]
    assert not missing, f"no kustomization.yaml in: {missing}"


@pytest.mark.parametrize("k", KUSTOMIZATIONS, ids=lambda k: k.rel)
def test_kustomization_renders(renders, k):
    r = renders[k.rel]
    unknown = [x for x in k.remote_resources() if upstream_copy_for(x) is None]
    assert not unknown, (
        f"{k.rel}/{k.file.name}: remote resources {unknown} cannot be rendered offline; only Argo CD's pinned "
        "install manifest is a remote resource (rendered here from its verified copy in .cache/argocd/)"
    )
    assert r.ok, (
        f"{k.rel}: `kustomize build` failed ({k.kind}{' ' + r.via if r.via else ''}):\n{r.error}"
    )
    assert r.objects, f"{k.rel}: renders no objects"


@pytest.mark.parametrize("k", KUSTOMIZATIONS, ids=lambda k: k.rel)
def test_kustomization_style(k):
    """style.md: apiVersion+kind first; no commonLabels, bases, patchesStrategicMerge."""
    doc = k.doc
    problems = []
    if list(doc)[:2] != ["apiVersion", "kind"]:
        problems.append(f"starts with {list(doc)[:2]}, not apiVersion, kind")
    for old in ("commonLabels", "bases", "patchesStrategicMerge", "patchesJson6902", "vars"):
        if old in doc:
            problems.append(f"uses deprecated `{old}:`")
    for r in doc.get("resources") or []:
        if isinstance(r, str) and not r.startswith(("./", "../")) and upstream_copy_for(r) is None:
            problems.append(
                f"resource {r!r} is not a ./ or ../ path (nor the pinned Argo CD manifest)"
            )
    assert not problems, f"{k.rel}/{k.file.name}: " + "; ".join(problems)
