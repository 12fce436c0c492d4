"""A stage started the way its pod starts it (`python -m medallion.<stage>.cli`) chooses its
driver JVM's compilers from the size of its run, known before Spark starts: C1 only for a
short run (a day of the default watchlist), the tiered compilers for a long one (the
benchmark's 1M-bar backfill). C1 alone made the 10M-bar silver + gold twice as slow."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def session_log(stage: str, tmp_path, start: str, end: str, **env: str) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", f"medallion.{stage}.cli", "--start", start, "--end", end],
        env={**os.environ, "LAKE_ROOT": str(tmp_path / "lake"), "SPARK_MASTER": "local[1]", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(ln) for ln in proc.stderr.splitlines() if ln.startswith("{")]
    started = [ln["msg"] for ln in lines if ln.get("msg", "").startswith("spark session")]
    assert started, proc.stderr[-3000:]
    return started[0]


def test_a_day_of_the_default_watchlist_is_a_short_run(tmp_path):
    assert session_log("transformer", tmp_path, "2026-03-02", "2026-03-03").endswith("short run)")


def test_the_one_million_bar_backfill_is_a_long_run(tmp_path):
    watchlist = ",".join(f"S{i:03d}" for i in range(128))
    started = session_log(
        "aggregator", tmp_path, "2025-03-03", "2025-03-29", WATCHLIST=watchlist, BAR_INTERVAL="1m"
    )
    assert started.endswith("long run)"), started
