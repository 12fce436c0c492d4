"""checkov (framework kubernetes) on the rendered output: 0 failed checks, and
every skip is a `checkov.io/skipN: CKV_..=reason` annotation with a reason."""

from __future__ import annotations

import json
import re
import subprocess

import crosschecks as checks
import pytest
from render import CHECKOV_VENV


def deployable(renders):
    """Everything Argo CD or bootstrap/ applies: all renders except bases and components
    (they are scanned as part of the overlays that use them)."""
    return {n: r for n, r in renders.items() if r.ok and not n.startswith("base/")}


def checkov_targets(renders):
    """What checkov scans: every deployable render, clusters/kind/argocd included: it is rendered
    from Argo CD's real install manifest (the verified copy the release ships), so checkov grades
    what runs and every skip in patch-checkov-skips.yaml can be proven needed."""
    return deployable(renders)


@pytest.fixture(scope="session")
def checkov_report(renders, tmp_path_factory):
    out = tmp_path_factory.mktemp("rendered-for-checkov")
    for name, r in checkov_targets(renders).items():
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


def test_checkov_reports_no_failed_checks(checkov_report, renders):
    assert checkov_targets(renders), "nothing deployable rendered (overlays, clusters, bootstrap)"
    failed, _ = checkov_report
    lines = sorted(
        {
            f"{c['file_path'].lstrip('/').replace('__', '/')}: {c['resource']}: "
            f"{c['check_id']} {c['check_name']}"
            for c in failed
        }
    )
    assert not lines, (
        f"checkov: {len(lines)} failed checks (fix, or skip with an annotation "
        "`checkov.io/skipN: CKV_K8S_NN=reason` on the resource):\n" + "\n".join(lines)
    )


def test_every_checkov_skip_has_a_reason(checkov_report, renders):
    _, skipped = checkov_report

    def reason(c):
        return (
            (c.get("check_result") or {}).get("suppress_comment") or c.get("suppress_comment") or ""
        ).strip()

    bad = [
        f"{c['resource']}: {c['check_id']} skipped without a reason"
        for c in skipped
        if reason(c) in ("", "No comment provided")
    ]
    bad += checks.check_checkov_skip_annotations(
        (name, o) for name, r in deployable(renders).items() for o in r.objects
    )
    assert not bad, "\n".join(sorted(set(bad)))
