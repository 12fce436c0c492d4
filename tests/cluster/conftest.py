"""Fixtures of the control-plane tier (marker `cluster`, added by folder in tests/conftest.py).

One tier per session: the control plane, the git server, `make up`'s bootstrap and Argo CD's
controller start once, and the tests read (and, at the end, change) the same stack. Missing
binaries are an error that says how to get them, never a skip.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for p in (HERE, HERE.parent / "dags"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import tier as t  # noqa: E402

# Every Application must be Synced and Healthy within this bound after Argo CD starts (the
# probe measured about 65 s on 2 cores; the bound leaves room for a loaded CI machine).
CONVERGE_WITHIN_S = 900


@pytest.fixture(scope="session")
def tier(tmp_path_factory):
    missing = t.missing_binaries()
    if missing:
        pytest.fail(
            f"control-plane tier binaries missing ({', '.join(missing)}): run `make cluster-tools` "
            "(tools/cluster-tier-tools.sh; about 35 minutes the first time, cached by version)",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("tier")
    with t.running_tier(workdir, log=lambda m: sys.stderr.write(m + "\n")) as tr:
        tr.start_control_plane()
        tr.served_commit = tr.serve_commit()
        tr.bootstrap_result = tr.bootstrap()
        tr.argocd_started = time.time()
        tr.start_argocd()
        yield tr


def _converged(tr: t.Tier) -> dict | None:
    apps = tr.applications()
    if len(apps) < 9:
        return None
    for a in apps.values():
        st = a.get("status") or {}
        if (st.get("sync") or {}).get("status") != "Synced" or (st.get("health") or {}).get("status") != "Healthy":
            return None
        if (st.get("sync") or {}).get("revision") != tr.head():
            return None
    return apps


def summary(tr: t.Tier) -> str:
    lines = []
    for name, a in sorted(tr.applications().items()):
        st = a.get("status") or {}
        op = st.get("operationState") or {}
        conds = "; ".join(c.get("message", "")[:200] for c in st.get("conditions") or [])
        lines.append(
            f"{name}: sync={(st.get('sync') or {}).get('status')} health={(st.get('health') or {}).get('status')} "
            f"op={op.get('phase')} {op.get('message', '')[:200]} {conds}"
        )
    return "\n".join(lines) + "\n--- controller log ---\n" + tr.log_tail("application-controller", 30)


def wait_converged(tr: t.Tier, timeout: float = CONVERGE_WITHIN_S) -> dict:
    return t.wait_for(lambda: _converged(tr), timeout, "every Application Synced and Healthy at the served commit",
                      lambda: summary(tr), every=3)


@pytest.fixture(scope="session")
def converged(tier):
    apps = wait_converged(tier)
    tier.converged_after_s = time.time() - tier.argocd_started
    sys.stderr.write(f"tier: {len(apps)} Applications Synced and Healthy {tier.converged_after_s:.0f}s after Argo CD started\n")
    return apps
