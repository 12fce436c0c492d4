"""bootstrap/credentials.py: secrets.yaml read by PyYAML only, generators as documented."""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPT = REPO_ROOT / "bootstrap" / "credentials.py"


@pytest.fixture(scope="module")
def credentials():
    spec = importlib.util.spec_from_file_location("credentials", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_prints_the_spec_as_yaml_reads_it():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "parse"], capture_output=True, text=True, check=True
    )
    expected = yaml.safe_load((REPO_ROOT / "bootstrap/secrets.yaml").read_text())["secrets"]
    assert json.loads(out.stdout) == expected
    assert {"namespace", "name", "keys"} <= set(expected[0])


def test_every_generator_in_the_spec_resolves_in_order(credentials):
    """copy/template only refer to keys listed above them; values come out as documented."""
    values: dict[str, str] = {}
    for entry in credentials.parse_spec(credentials.SPEC.read_text()):
        for key, rule in (entry.get("keys") or {}).items():
            where = f"{entry['namespace']}/{entry['name']}/{key}"
            values[where] = credentials.generate(rule, values, where)
    assert values["storage/minio-root/MINIO_ROOT_USER"] == "lake-admin"
    assert len(values["storage/minio-root/MINIO_ROOT_PASSWORD"]) == 48
    assert "{" not in "".join(values.values())


def test_generators(credentials):
    values = {"a/b/c": "s3cret"}
    assert credentials.generate("literal:lake", values, "x") == "lake"
    assert len(bytes.fromhex(credentials.generate("hex:12", values, "x"))) == 12
    assert len(base64.urlsafe_b64decode(credentials.generate("fernet", values, "x"))) == 32
    assert credentials.generate("copy:a/b/c", values, "x") == "s3cret"
    assert credentials.generate("template:u:{a/b/c}@h", values, "x") == "u:s3cret@h"
    for bad in ("copy:a/b/missing", "template:{nope}", "rot13:x"):
        with pytest.raises(SystemExit):
            credentials.generate(bad, values, "x")


def test_without_pyyaml_it_says_how_to_get_it(tmp_path):
    """No second parser: a Python without PyYAML (and no project venv) gets one message."""
    (tmp_path / "bootstrap").mkdir()
    for name in ("credentials.py", "secrets.yaml"):
        shutil.copy2(REPO_ROOT / "bootstrap" / name, tmp_path / "bootstrap" / name)
    # -S: no site-packages, so neither the venv's nor the system's PyYAML is importable
    out = subprocess.run(
        [sys.executable, "-S", str(tmp_path / "bootstrap/credentials.py"), "parse"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "needs PyYAML" in out.stderr and "make venv" in out.stderr
    assert "Traceback" not in out.stderr
