"""Progress of long work: a redrawn line on a terminal, a few plain log lines elsewhere.

The real `ingest` CLI (synthetic source, local lake) runs once on a pseudo-terminal and
once with its output in a pipe, as in a pod or CI.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

SYMBOLS = [f"SYM{i:02d}" for i in range(25)]


def ingest(tmp_path: Path, terminal: bool) -> str:
    argv = [
        str(Path(sys.executable).parent / "ingest"),
        "--start",
        "2026-01-05",
        "--end",
        "2026-01-10",
        "--symbols",
        ",".join(SYMBOLS),
    ]
    env = {
        **os.environ,
        "LAKE_ROOT": str(tmp_path / "lake"),
        "MARKET_SOURCE": "synthetic",
        "TERM": "xterm",
    }
    if not terminal:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr
    parent, child = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=child, stderr=child)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(parent, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(parent)
    assert proc.wait(timeout=300) == 0
    return b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_one_line_is_redrawn(tmp_path):
    out = ingest(tmp_path, terminal=True)
    assert "\r\x1b[K" in out
    assert "25/25 symbols fetched" in out
    assert '"progress"' not in out  # no progress log lines on a terminal


def test_in_a_pipe_a_few_plain_log_lines(tmp_path):
    err = ingest(tmp_path, terminal=False)
    assert "\r" not in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    progress = [line for line in lines if line.get("progress") == "ingest"]
    assert 2 <= len(progress) <= 11, progress  # one per tenth of the work, not per symbol
    assert progress[-1]["done"] == progress[-1]["total"] == len(SYMBOLS)
    assert progress[-1]["msg"] == "ingest: 25/25 symbols fetched"
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)
