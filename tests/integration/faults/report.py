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
