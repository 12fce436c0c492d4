"""The run report in a real browser: Debian's Chromium, headless, loads reports/…/report.html.

No console message, a screenshot that shows the charts, and the page holds what the README
says it does (a self-contained page, one chart panel per symbol, the run's tables).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from medallion.runner.report import write_report

REPO_ROOT = Path(__file__).resolve().parents[3]
# what the sandbox-less, offline, fresh-profile headless Chromium needs here
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]
SYMBOLS = ["AAPL", "AMZN", "GOOG", "META", "MSFT", "NVDA", "TSLA", "SPY"]
TAB_BLUE = np.array([31, 119, 180]) / 255  # matplotlib's first line colour (close)


def gold_rows(symbol: str, days: int, first_close: float) -> list[dict]:
    rows = []
    for i in range(days):
        close = first_close * (1 + 0.01 * ((i % 7) - 3))
        rows.append(
            {
                "symbol": symbol,
                "trade_date": date(2026, 1, 2) + timedelta(days=i),
                "close": close,
                "vwap": close * 0.999,
                "return_simple": 0.001 * i,
                "sma_20": close if i >= 19 else None,
                "sma_50": None,
                "sma_200": None,
                "volatility_20d": 0.2 if i >= 19 else None,
                "drawdown": -0.01 * (i % 5),
                "high_52w": first_close * 1.03,
                "low_52w": first_close * 0.97,
            }
        )
    return rows


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        pytest.fail(
            "chromium not found: run `make chromium` (tools/install-chromium.sh installs "
            "Debian's chromium package)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    # eight symbols, one with a single day and one with two: the shapes that used to vanish
    rows = []
    for n, symbol in enumerate(SYMBOLS):
        rows += gold_rows(symbol, {0: 1, 1: 2}.get(n, 60), 100.0 + 40 * n)
    summary = {
        "interval": "[2026-01-02, 2026-03-03)",
        "source": "synthetic",
        "bar_interval": "1d",
        "lake_root": "/tmp/lake",
        "layers": {"bronze objects": 8, "silver prices": len(rows), "gold daily": len(rows)},
        "quarantine_by_rule": {"non_positive_price": 1},
        "stages": [{"stage": "ingest", "seconds": 1.5, "counts": {"objects_written": 8}}],
    }
    return write_report(tmp_path_factory.mktemp("reports") / "latest", summary, rows)


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_chromium_loads_the_report_without_console_messages_and_draws_it(
    chromium, report, tmp_path
):
    shot = tmp_path / "report.png"
    done = run_chromium(
        chromium,
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,2400",
        report.as_uri(),
    )
    assert shot.exists(), done.stderr[-3000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2400, 1280)
    not_white = (pixels < 0.97).any(axis=-1).mean()
    assert not_white > 0.05, f"screenshot is {not_white:.1%} non-white: blank page?"
    close_lines = (np.abs(pixels - TAB_BLUE) < 0.04).all(axis=-1).sum()
    assert close_lines > 2000, "no chart line (matplotlib's blue) drawn in the page"


def test_the_page_holds_what_the_readme_describes(chromium, report, tmp_path):
    done = run_chromium(chromium, tmp_path / "profile", "--dump-dom", report.as_uri())
    dom = done.stdout
    assert "<h1>" in dom, done.stderr[-3000:]
    panels = re.findall(r'<figure><img alt="([A-Z]+): [^"]*" src="data:image/png;base64,', dom)
    assert panels == sorted(SYMBOLS)  # one panel per symbol, in the wrapping grid
    assert 'class="panels"' in dom
    for heading in ("Latest gold metrics", "Rows per layer", "Quarantined rows by rule", "Stages"):
        assert f"<h2>{heading}</h2>" in dom
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r'(src|href)="(https?:)?//', dom)
    assert (report.parent / "gold.png").stat().st_size > 10_000
    readme = (REPO_ROOT / "README.md").read_text()
    assert "writes `reports/latest/report.html` (a self-contained" in readme
    assert "one chart panel per symbol in a grid that wraps" in readme
