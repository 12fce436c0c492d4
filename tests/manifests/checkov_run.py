"""checkov (framework kubernetes) over rendered kustomizations: the one way the suite runs it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from render import CHECKOV_VENV, Rendered


def deployable(renders):
    """Everything Argo CD or bootstrap/ applies: all renders except bases and components
    (they are scanned as part of the overlays that use them)."""
    return {n: r for n, r in renders.items() if r.ok and not n.startswith("base/")}


def run_checkov(renders: dict[str, Rendered], out: Path) -> tuple[list[dict], list[dict]]:
    """(failed checks, skipped checks) of checkov over ``renders``, written into ``out``."""
    for name, r in renders.items():
        # CRDs carry no checks of the kubernetes framework and are most of the bytes
        docs = [
            d
            for d in r.text.split("\n---\n")
            if not re.search(r"^kind: CustomResourceDefinition$", d, re.M)
        ]
        (out / (name.replace("/", "__") + ".yaml")).write_text("\n---\n".join(docs))
    p = subprocess.run(
        [
            str(CHECKOV_VENV / "bin" / "checkov"),
            "--directory",
            str(out),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        cwd=out,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(out),
            "BC_SKIP_MAPPING": "TRUE",
            "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
            "LOG_LEVEL": "ERROR",
        },
    )
    assert p.returncode in (0, 1), f"checkov crashed (exit {p.returncode}):\n{p.stderr[-3000:]}"
    doc = json.loads(p.stdout) if p.stdout.strip() else {}
    reports = doc if isinstance(doc, list) else [doc]
    failed, skipped, parse_errors, scanned = [], [], [], 0
    for rep in reports:
        res = rep.get("results") or {}
        failed += res.get("failed_checks") or []
        skipped += res.get("skipped_checks") or []
        parse_errors += res.get("parsing_errors") or []
        scanned += (rep.get("summary") or {}).get("resource_count", 0)
    assert not parse_errors, (
        f"checkov could not parse (those resources went unscanned): {parse_errors}"
    )
    assert scanned, "checkov scanned no resource"
    return failed, skipped
