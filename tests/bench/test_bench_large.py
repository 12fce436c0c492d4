"""`python -m bench.large` on a few bars: both backfills ingested, run through silver + gold
+ publish in fresh processes, and reported with throughput and the driver's peak memory.
No time is asserted (the full run is the benchmark's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_large_scenario_runs_both_sizes_and_reports_them(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"scenarios": ["kept"]}))  # a whole run's results stay
    proc = subprocess.run(
        [sys.executable, "-m", "bench.large", "--symbols", "2", "--days", "2", "4",
         "--output", str(out), "--work-dir", str(tmp_path / "work")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    results = json.loads(out.read_text())
    assert results["scenarios"] == ["kept"]
    large = results["separate_runs"]["large"]
    # 2 symbols x 390 one-minute bars a day, over 2 and 4 trading days
    expected = {"1m_bars_1M": 2 * 2 * 390, "1m_bars_10M": 2 * 4 * 390}
    for name, bars in expected.items():
        size = large["sizes"][name]
        assert size["bars"] == bars and size["rows_out"]["transform"] == bars, name
        assert size["silver_gold_bars_per_second"] > 0, name
        assert 0 < size["driver_rss_peak_gib"] < 64, name
    assert set(large["targets"]) == {
        "completes", "driver_peak_under_4_gib", "throughput_at_least_80_percent"}
    assert large["targets"]["completes"] is True
