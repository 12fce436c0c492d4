"""yamllint is clean on every YAML file in the repository (config: .yamllint)."""

from __future__ import annotations

import subprocess
import sys

from render import CHECKOV_VENV, REPO_ROOT, pinned_versions, rel, walk_files


def yamllint_cmd() -> list[str]:
    want = f"yamllint {pinned_versions()['YAMLLINT_VERSION']}"
    for cmd in ([sys.executable, "-m", "yamllint"], [str(CHECKOV_VENV / "bin" / "yamllint")]):
        try:
            v = subprocess.run([*cmd, "--version"], capture_output=True, text=True).stdout.strip()
        except FileNotFoundError:
            continue
        if v == want:
            return cmd
    raise AssertionError(f"{want} not found: run tools/manifest-tools.sh")


def test_yamllint_clean(root):
    files = [str(f) for f in walk_files(root, (".yaml", ".yml"))]
    files += (
        [str(f) for f in (root / ".github").rglob("*.y*ml")] if (root / ".github").is_dir() else []
    )
    assert files, "no YAML files found"
    config = root / ".yamllint" if (root / ".yamllint").exists() else REPO_ROOT / ".yamllint"
    p = subprocess.run(
        [*yamllint_cmd(), "--strict", "-c", str(config), "-f", "parsable", *sorted(set(files))],
        capture_output=True,
        text=True,
        cwd=root,
    )
    lines = [ln.replace(str(root) + "/", "") for ln in p.stdout.splitlines()]
    assert p.returncode == 0 and not lines, (
        f"yamllint ({rel(config, root)}):\n" + "\n".join(lines) + p.stderr
    )
