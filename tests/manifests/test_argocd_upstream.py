"""Argo CD's install manifest is a pinned remote resource, not a file in the repository:
clusters/kind/argocd/kustomization.yaml names exactly the URL of the version in
clusters/kind/argocd/UPSTREAM (which also holds its sha256, written nowhere else), the suite renders
that folder from the copy the release ships in its Go module (same sha256), and
bootstrap/argocd-manifest.sh refuses a download that fails or does not match the pin. Offline: the
bootstrap script runs against a curl that serves files, or fails like curl without a network."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from render import KUSTOMIZE, PRUNE_DIRS, parse_objects, rel, upstream_copy_for

ARGOCD = "clusters/kind/argocd"
URL_TEMPLATE = "https://raw.githubusercontent.com/argoproj/argo-cd/{version}/manifests/install.yaml"


def upstream_pin(root: Path) -> dict[str, str]:
    f = root / ARGOCD / "UPSTREAM"
    assert f.is_file(), (
        f"{ARGOCD}/UPSTREAM is missing (VERSION, URL, SHA256 of Argo CD's install manifest)"
    )
    pin = dict(re.findall(r"^([A-Z0-9_]+)=(\S+)$", f.read_text(), flags=re.M))
    assert set(pin) == {"VERSION", "URL", "SHA256"}, f"{ARGOCD}/UPSTREAM sets {sorted(pin)}"
    return pin


def test_upstream_pin_is_complete(root):
    pin = upstream_pin(root)
    assert re.fullmatch(r"v\d+\.\d+\.\d+", pin["VERSION"]), pin["VERSION"]
    assert pin["URL"] == URL_TEMPLATE.format(version=pin["VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", pin["SHA256"]), pin["SHA256"]


def test_kustomization_references_exactly_the_pinned_url(root):
    pin = upstream_pin(root)
    doc = yaml.safe_load((root / ARGOCD / "kustomization.yaml").read_text())
    resources = doc.get("resources") or []
    remote = [r for r in resources if not str(r).startswith(("./", "../"))]
    assert remote == [pin["URL"]], (
        f"{ARGOCD}: remote resources {remote}, expected only {pin['URL']}"
    )
    assert not doc.get("components"), "no remote or local components expected"
    images = {i["name"]: i for i in doc.get("images") or []}
    assert images.get("quay.io/argoproj/argocd", {}).get("newTag") == pin["VERSION"], (
        "the Argo CD image tag must be the version in UPSTREAM"
    )
    assert upstream_copy_for(pin["URL"]) is not None, (
        "tests/manifests/render.py has no verified upstream copy for the pinned URL"
    )


def _repo_text_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in PRUNE_DIRS and not d.startswith(".venv")]
        for name in filenames:
            f = Path(dirpath) / name
            if f.is_file() and f.stat().st_size < 5e6:
                yield f


def test_sha256_and_no_vendored_copy(root):
    """The sha256 is written once (UPSTREAM), and no copy of the upstream manifest is kept."""
    sha = upstream_pin(root)["SHA256"]
    holders, crds = [], []
    for f in _repo_text_files(root):
        data = f.read_bytes()
        if sha.encode() in data:
            holders.append(rel(f, root))
        if (
            f.suffix in (".yaml", ".yml")
            and rel(f, root).startswith("clusters/")
            and re.search(rb"^kind: CustomResourceDefinition\s*$", data, flags=re.M)
        ):
            crds.append(rel(f, root))
    assert holders == [f"{ARGOCD}/UPSTREAM"], (
        f"the upstream sha256 must be written only in UPSTREAM: {holders}"
    )
    assert not crds, (
        f"CustomResourceDefinitions in git under clusters/ (a vendored upstream manifest?): {crds}"
    )
    assert not (root / ARGOCD / "upstream").exists(), (
        f"{ARGOCD}/upstream/ (the old vendored copy) is back"
    )


def test_the_upstream_copy_is_the_pinned_release(root, tools):
    """The file the suite renders from is byte for byte the pinned manifest (sha256 in UPSTREAM)."""
    pin = upstream_pin(root)
    copy = upstream_copy_for(pin["URL"])
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == pin["SHA256"], (
        f"{copy} is not Argo CD {pin['VERSION']}'s install manifest: run `make manifest-tools`"
    )


def test_argocd_renders_from_the_upstream_copy_with_our_patches(renders, stack):
    r = renders[ARGOCD]
    assert r.ok, r.error
    assert len(r.upstream_copies) == 1 and "verified upstream copy" in r.via
    objs = {(o["kind"], o["metadata"]["name"]): o for o in r.objects}
    assert not [k for k in objs if k[1].startswith("argocd-dex-server")], (
        "Dex must be removed by the patch"
    )
    svc = objs[("Service", "argocd-server")]["spec"]
    assert svc["type"] == "NodePort" and [p.get("nodePort") for p in svc["ports"]] == [30443]
    cm = objs[("ConfigMap", "argocd-cm")]["data"]
    assert cm["timeout.reconciliation"] == "60s" and "argoproj.io_Application" in "".join(cm)
    # the release carries every kind the `argocd` AppProject permits (none is permitted needlessly)
    project = next(o for _, o in stack.of_kind("AppProject") if o["metadata"]["name"] == "argocd")[
        "spec"
    ]
    permitted = {
        e["kind"]
        for f in ("clusterResourceWhitelist", "namespaceResourceWhitelist")
        for e in project.get(f) or []
    }
    assert permitted <= {k for k, _ in objs}, (
        f"kinds not in the render: {permitted - {k for k, _ in objs}}"
    )


# --------------------------------------------------------------------------- bootstrap/argocd-manifest.sh


def _fake_curl(bin_dir: Path, body: Path | None) -> None:
    """curl that writes `body` to its -o file, or fails like curl without a network."""
    bin_dir.mkdir(exist_ok=True)
    script = (
        '#!/bin/sh\nout=\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && { out=$2; shift; }; shift; done\n'
        + (
            f"cp '{body}' \"$out\"\n"
            if body
            else "echo 'curl: (6) Could not resolve host: raw.githubusercontent.com' >&2\nexit 6\n"
        )
    )
    (bin_dir / "curl").write_text(script)
    (bin_dir / "curl").chmod(0o755)


def _copy_bootstrap_tree(root: Path, dst: Path) -> Path:
    shutil.copytree(root / "bootstrap", dst / "bootstrap")
    shutil.copytree(root / ARGOCD, dst / ARGOCD)
    return dst


def _run(tree: Path, bin_dir: Path) -> subprocess.CompletedProcess:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tree), "KUSTOMIZE": str(KUSTOMIZE)}
    return subprocess.run(
        ["bash", str(tree / "bootstrap" / "argocd-manifest.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_bootstrap_fails_clearly_without_network(root, tmp_path, tools):
    tree = _copy_bootstrap_tree(root, tmp_path / "tree")
    _fake_curl(tmp_path / "bin", None)
    p = _run(tree, tmp_path / "bin")
    url = upstream_pin(root)["URL"]
    assert p.returncode != 0 and not p.stdout.strip()
    assert f"cannot download {url}" in p.stderr, p.stderr


def test_bootstrap_refuses_a_download_with_another_sha256(root, tmp_path, tools):
    tree = _copy_bootstrap_tree(root, tmp_path / "tree")
    body = tmp_path / "tampered.yaml"
    body.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-argo-cd}\n")
    _fake_curl(tmp_path / "bin", body)
    p = _run(tree, tmp_path / "bin")
    pin = upstream_pin(root)
    assert p.returncode != 0 and not p.stdout.strip()
    assert (
        f"sha256 of {pin['URL']} is {hashlib.sha256(body.read_bytes()).hexdigest()}, expected {pin['SHA256']}"
        in p.stderr
    ), p.stderr


def test_bootstrap_builds_the_folder_against_the_verified_download(root, tmp_path, tools, renders):
    """Served the real release file, the script's build equals the suite's render: bootstrap
    applies the same folder, patches and images that Argo CD syncs later."""
    tree = _copy_bootstrap_tree(root, tmp_path / "tree")
    _fake_curl(tmp_path / "bin", upstream_copy_for(upstream_pin(root)["URL"]))
    p = _run(tree, tmp_path / "bin")
    assert p.returncode == 0, p.stderr
    assert "sha256 verified" in p.stderr
    assert parse_objects(p.stdout) == renders[ARGOCD].objects


def test_bootstrap_up_uses_the_verified_manifest(root):
    up = (root / "bootstrap" / "up.sh").read_text()
    assert "bootstrap/argocd-manifest.sh" in up
    assert '-k "$ROOT/clusters/kind/argocd"' not in up, (
        "up.sh must not apply the folder with its remote resource"
    )
    assert re.search(r"apply --server-side --force-conflicts -f \"\$ARGOCD_MANIFEST\"", up)
