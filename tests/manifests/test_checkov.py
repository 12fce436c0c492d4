"""checkov (framework kubernetes) on the rendered output: 0 failed checks, and
every skip is a `checkov.io/skipN: CKV_..=reason` annotation with a reason."""

from __future__ import annotations

import crosschecks as checks
import pytest
from checkov_run import deployable, run_checkov


def checkov_targets(renders):
    """What checkov scans: every deployable render, clusters/kind/argocd included: it is rendered
    from Argo CD's real install manifest (the verified copy the release ships), so checkov grades
    what runs and every skip in patch-checkov-skips.yaml can be proven needed."""
    return deployable(renders)


@pytest.fixture(scope="session")
def checkov_report(renders, tmp_path_factory):
    return run_checkov(checkov_targets(renders), tmp_path_factory.mktemp("rendered-for-checkov"))


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
