"""Image names and tags agree everywhere, and the tag bump / local build find them all."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT
from image_tags import IMAGES, REGISTRY_PREFIX, current_tag, find_refs

NEW_TAG = "0123456789abcdef0123456789abcdef01234567"
REF_RE = re.compile(rf"{re.escape(REGISTRY_PREFIX)}/([a-z]+)(?::([\w.-]+))?")


def overlay_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in (root / "overlays").glob("*/*/kustomization.yaml"))


def render(kustomize: Path, path: Path) -> list[dict]:
    out = subprocess.run(
        [str(kustomize), "build", "--load-restrictor", "LoadRestrictionsNone", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, f"kustomize build {path}: {out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def deployed_refs(kustomize: Path, root: Path) -> list[tuple[str, str, str]]:
    """(overlay, image, tag) for every first-party image reference in rendered overlays."""
    overlays = overlay_dirs(root)
    with ThreadPoolExecutor(max_workers=4) as pool:
        rendered = list(pool.map(lambda o: yaml.safe_dump_all(render(kustomize, o)), overlays))
    found = []
    for overlay, text in zip(overlays, rendered, strict=True):
        for m in REF_RE.finditer(text):
            found.append((str(overlay.relative_to(root)), m.group(1), m.group(2) or ""))
    return found


def copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for folder in ("base", "overlays", "clusters"):
        shutil.copytree(
            REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("upstream")
        )
    (root / "tools").mkdir()
    for script in ("image_tags.py", "bump-image-tags.sh", "build-images.sh"):
        shutil.copy2(REPO_ROOT / "tools" / script, root / "tools" / script)
    shutil.copy2(REPO_ROOT / "kind-config.yaml", root / "kind-config.yaml")
    return root


def test_names_agree_with_the_contract():
    assert REGISTRY_PREFIX == "ghcr.io/data-stack-k8s/data-stack-k8s"
    assert set(IMAGES) == {"base", "ingestor", "transformer", "aggregator", "jupyter"}
    script = (REPO_ROOT / "tools/build-images.sh").read_text()
    # build-images.sh takes the names from the overlays (a fork's CI may repoint them)
    (line,) = [ln for ln in script.splitlines() if ln.startswith("PREFIX=")]
    derived = subprocess.run(["bash", "-c", f"{line}\necho \"$PREFIX\""], cwd=REPO_ROOT,
                             capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert derived.stdout.strip() == REGISTRY_PREFIX, derived
    assert "ALL_IMAGES=(ingestor transformer aggregator jupyter)" in script
    for text in (REPO_ROOT / ".github/workflows/images.yml").read_text(), script:
        for m in re.finditer(r"ghcr\.io/[\w./-]+", text):
            assert m.group(0).startswith(REGISTRY_PREFIX)


def test_every_reference_is_found_and_shares_one_tag():
    refs = find_refs(REPO_ROOT)
    assert refs
    images = {r.image.rsplit("/", 1)[1] for r in refs}
    # the DAG's three job images (Airflow file) and the Jupyter deployment
    assert {"ingestor", "transformer", "aggregator", "jupyter"} <= images
    assert any(r.path.name == "images.env" for r in refs)
    assert current_tag(REPO_ROOT)


def test_airflow_images_file_names_each_job_image():
    env = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / "overlays/kind/airflow/images.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    tag = current_tag(REPO_ROOT)
    for key, image in {
        "INGESTOR_IMAGE": "ingestor",
        "TRANSFORMER_IMAGE": "transformer",
        "AGGREGATOR_IMAGE": "aggregator",
    }.items():
        assert env[key] == f"{REGISTRY_PREFIX}/{image}:{tag}"


def test_rendered_overlays_deploy_only_the_current_tag(kustomize):
    """No first-party image escapes the bump: every rendered reference carries the tag."""
    tag = current_tag(REPO_ROOT)
    refs = deployed_refs(kustomize, REPO_ROOT)
    assert {image for _, image, _ in refs} >= {"ingestor", "transformer", "aggregator", "jupyter"}
    stale = [r for r in refs if r[2] != tag]
    assert not stale, f"rendered references not at {tag}: {stale}"


def bump(root: Path, kustomize: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(root / "tools/bump-image-tags.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUSTOMIZE": str(kustomize)},
    )


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def test_bump_changes_every_reference_in_a_copy(kustomize, tmp_path):
    root = copy_tree(tmp_path)
    before = {p: p.read_text() for p in root.rglob("*") if p.is_file()}
    old = current_tag(root)
    result = bump(root, kustomize, NEW_TAG)
    assert result.returncode == 0, result.stderr
    assert current_tag(root) == NEW_TAG
    changed = {p for p, text in before.items() if p.read_text() != text}
    # only overlays/ and clusters/ change, and only image-tag lines
    assert changed and all(
        p.relative_to(root).parts[0] in ("overlays", "clusters") for p in changed
    )
    assert any(p.name == "kustomization.yaml" for p in changed)
    for path in changed:
        if path.name == "kustomization.yaml":
            # `kustomize edit` rewrites the file: the same document and comments, new tag only
            expected = yaml.safe_load(before[path].replace(f"newTag: {old}", f"newTag: {NEW_TAG}"))
            assert yaml.safe_load(path.read_text()) == expected
            assert comments(path.read_text()) == comments(before[path])
            continue
        for old_line, new_line in zip(
            before[path].splitlines(), path.read_text().splitlines(), strict=True
        ):
            if old_line != new_line:
                assert old_line.replace(old, NEW_TAG) == new_line
    refs = deployed_refs(kustomize, root)
    assert refs and all(tag == NEW_TAG for _, _, tag in refs), refs
    # idempotent: a second run changes nothing
    again = bump(root, kustomize, NEW_TAG)
    assert again.returncode == 0 and "nothing to change" in again.stdout


def test_bump_reaches_an_image_set_by_newname(kustomize, tmp_path):
    """An images entry that renames an upstream image to ours (newName) is bumped too."""
    root = copy_tree(tmp_path)
    overlay = root / "overlays/kind/jupyter/kustomization.yaml"
    doc = yaml.safe_load(overlay.read_text())
    doc["images"] = [
        {"name": "jupyter", "newName": f"{REGISTRY_PREFIX}/jupyter", "newTag": "0.1.0"}
    ]
    overlay.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert bump(root, kustomize, NEW_TAG).returncode == 0
    assert yaml.safe_load(overlay.read_text())["images"] == [
        {"name": "jupyter", "newName": f"{REGISTRY_PREFIX}/jupyter", "newTag": NEW_TAG}
    ]


def test_bump_refuses_a_bad_tag_and_disagreeing_overlays(kustomize, tmp_path):
    root = copy_tree(tmp_path)
    bad = bump(root, kustomize, "not a tag!")
    assert bad.returncode != 0 and "not a valid image tag" in bad.stderr
    env = root / "overlays/kind/airflow/images.env"
    env.write_text(env.read_text().replace("ingestor:", "ingestor:other-", 1))
    check = bump(root, kustomize, "--check")
    assert check.returncode != 0 and "disagree" in check.stderr


FAKE_DOCKER = """#!/usr/bin/env bash
echo "docker $*" >> "$CALLS"
case "$1" in
  info) [[ -z "${DOCKER_DOWN:-}" ]] ;;
  buildx) [[ "$2" == version ]] && exit 0; exit 0 ;;
  image) exit 0 ;;
esac
"""
FAKE_KIND = """#!/usr/bin/env bash
echo "kind $*" >> "$CALLS"
[[ "$1 $2" == "get clusters" ]] && echo "${KIND_CLUSTERS:-}"
exit 0
"""


@pytest.fixture
def fake_bin(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("docker", FAKE_DOCKER), ("kind", FAKE_KIND)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def run_build(
    root: Path, fake_bin: Path, tmp_path: Path, **env
) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls = tmp_path / "calls.log"
    calls.write_text("")
    full_env = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "CALLS": str(calls),
        **env,
    }
    result = subprocess.run(
        ["bash", str(root / "tools/build-images.sh")],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        cwd=root,
    )
    return result, calls.read_text().splitlines()


def test_build_script_builds_every_image_with_the_overlay_tag_and_loads_kind(fake_bin, tmp_path):
    root = copy_tree(tmp_path)
    tag = current_tag(root)
    result, calls = run_build(root, fake_bin, tmp_path, KIND_CLUSTERS="data-stack")
    assert result.returncode == 0, result.stderr
    builds = [c for c in calls if c.startswith("docker buildx build")]
    assert len(builds) == len(IMAGES)
    assert f"--tag {REGISTRY_PREFIX}/base:{tag}" in builds[0]  # base first
    for image in IMAGES:
        line = next(b for b in builds if f"--tag {REGISTRY_PREFIX}/{image}:{tag}" in b)
        assert f"--file apps/docker/{image}.Dockerfile" in line and line.endswith(" .")
        if image != "base":
            assert f"--build-arg BASE_IMAGE={REGISTRY_PREFIX}/base:{tag}" in line
    loads = [c for c in calls if c.startswith("kind load docker-image")]
    assert len(loads) == 1  # one archive: shared base layers go once
    assert "--name data-stack" in loads[0]
    for image in ("ingestor", "transformer", "aggregator", "jupyter"):
        assert f"{REGISTRY_PREFIX}/{image}:{tag}" in loads[0]


def test_build_script_skips_kind_when_the_cluster_is_not_running(fake_bin, tmp_path):
    root = copy_tree(tmp_path)
    result, calls = run_build(root, fake_bin, tmp_path, KIND_CLUSTERS="")
    assert result.returncode == 0
    assert "is not running" in result.stdout
    assert not [c for c in calls if c.startswith("kind load")]


def test_build_script_says_when_docker_is_missing(fake_bin, tmp_path):
    root = copy_tree(tmp_path)
    result, calls = run_build(root, fake_bin, tmp_path, DOCKER_DOWN="1")
    assert result.returncode == 2
    assert "no Docker engine answers" in result.stderr
    assert not [c for c in calls if "build" in c]
