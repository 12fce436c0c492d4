#!/usr/bin/env python3
"""Create the stack's credentials once, as Kubernetes Secrets, from secrets.yaml.

    credentials.py ensure   create missing Secrets (and missing keys); never rotate
    credentials.py print    show every credential (for `make creds`)

secrets.yaml is read with PyYAML, the one YAML parser of this repository: the
project venv has it (`make venv`), and so does Debian's python3-yaml. Without it
in the running Python, the script re-runs itself with .venv/bin/python or says
how to get it. Values travel to kubectl on stdin, never on a command line.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets as rnd
import subprocess
import sys
from pathlib import Path

SPEC = Path(__file__).with_name("secrets.yaml")
CONTEXT = os.environ.get("KUBE_CONTEXT", "kind-data-stack")
MANAGED_BY = "data-stack-bootstrap"


def _yaml():
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        venv_python = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.executable).resolve() != venv_python.resolve():
            os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])
        raise SystemExit(
            f"{Path(__file__).name} needs PyYAML to read {SPEC.name}: run `make venv` "
            "(the project venv has it) or install python3-yaml"
        ) from None
    return yaml


def parse_spec(text: str) -> list[dict]:
    """Parse secrets.yaml: `secrets:` -> list of {namespace, name, purpose, keys: {k: v}}."""
    return list((_yaml().safe_load(text) or {}).get("secrets") or [])


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--context", CONTEXT, *args], input=stdin, text=True,
                          capture_output=True, check=check)


def existing(ns: str, name: str) -> dict[str, str] | None:
    p = kubectl("get", "secret", name, "-n", ns, "-o", "json", check=False)
    if p.returncode != 0:
        if "NotFound" in p.stderr:
            return None
        raise SystemExit(f"kubectl get secret {ns}/{name} failed: {p.stderr.strip()}")
    data = json.loads(p.stdout).get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def generate(rule: str, values: dict[str, str], where: str) -> str:
    kind, _, arg = rule.partition(":")
    if kind == "literal":
        return arg
    if kind == "hex":
        return rnd.token_hex(int(arg))
    if kind == "fernet":
        return base64.urlsafe_b64encode(rnd.token_bytes(32)).decode()
    if kind == "copy":
        if arg not in values:
            raise SystemExit(f"{where}: copy of {arg}, which is not listed above it in {SPEC.name}")
        return values[arg]
    if kind == "template":
        def ref(m: re.Match) -> str:
            if m.group(1) not in values:
                raise SystemExit(f"{where}: template refers to {m.group(1)}, not listed above it")
            return values[m.group(1)]
        return re.sub(r"\{([^{}]+)\}", ref, arg)
    raise SystemExit(f"{where}: unknown generator {rule!r}")


def ensure_namespace(ns: str, seen: set[str]) -> None:
    if ns in seen:
        return
    seen.add(ns)
    if kubectl("get", "namespace", ns, check=False).returncode != 0:
        # Argo CD's `namespaces` Application adopts it (labels, annotations) later.
        kubectl("create", "namespace", ns)
        print(f"  namespace {ns}: created")


def ensure(spec: list[dict]) -> None:
    values: dict[str, str] = {}
    namespaces: set[str] = set()
    for s in spec:
        ns, name, keys = s["namespace"], s["name"], s.get("keys") or {}
        ensure_namespace(ns, namespaces)
        have = existing(ns, name)
        data = dict(have or {})
        missing = [k for k in keys if k not in data]
        for k in missing:
            data[k] = generate(keys[k], values, f"{ns}/{name}/{k}")
        for k in keys:
            values[f"{ns}/{name}/{k}"] = data[k]
        if have is not None and not missing:
            print(f"  secret {ns}/{name}: exists, kept")
            continue
        obj = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": name, "namespace": ns,
                            "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
                            "annotations": {"data-stack-k8s.io/purpose": s.get("purpose", ""),
                                            "data-stack-k8s.io/spec": "bootstrap/secrets.yaml"}},
               "stringData": data}
        verb = "create" if have is None else "replace"
        kubectl(verb, "-f", "-", stdin=json.dumps(obj))
        print(f"  secret {ns}/{name}: {'created' if have is None else 'added ' + ', '.join(missing)}")


def show(spec: list[dict]) -> None:
    for s in spec:
        ns, name = s["namespace"], s["name"]
        have = existing(ns, name)
        print(f"{ns}/{name}  ({s.get('purpose', '')})")
        if have is None:
            print("    (not created yet: run `make up`)")
            continue
        for k in s.get("keys") or {}:
            print(f"    {k} = {have.get(k, '(missing)')}")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("ensure", "print", "parse"):
        print(__doc__, file=sys.stderr)
        return 2
    spec = parse_spec(SPEC.read_text())
    if argv[1] == "parse":  # for tests: the spec as this script understands it
        print(json.dumps(spec, indent=2))
    elif argv[1] == "ensure":
        ensure(spec)
    else:
        show(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
