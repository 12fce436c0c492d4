"""Figures of the fault-injection suite, collected into reports/faults/summary.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SUMMARY = Path(__file__).resolve().parents[3] / "reports" / "faults" / "summary.json"


def record(name: str, figures: dict[str, Any]) -> None:
    """Merge one scenario's figures into the summary file (read by people, not tests)."""
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    data[name] = figures
    SUMMARY.write_text(json.dumps(data, indent=1, default=str))


def record_outcome(name: str, diff: dict[str, dict[str, int]], **figures: Any) -> None:
    """A scenario's figures plus the rows it lost and duplicated, from a canonical diff."""
    record(
        name,
        {
            **figures,
            "rows_lost": sum(d["lost"] for d in diff.values()),
            "rows_extra": sum(d["extra"] for d in diff.values()),
        },
    )
