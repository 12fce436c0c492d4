"""What the benchmark runs: scales, symbols, the trading calendar, the latency server.

A scale fixes the symbols, the trading days of the backfill (= the history of the first
incremental run), the history of the second incremental run, and the bars per day.
Days are weekdays from a fixed Monday (the synthetic source has no holidays), so every
run of a scale asks for exactly the same bars.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from medallion.common.intervals import Interval

REPO_ROOT = Path(__file__).resolve().parents[1]
FIRST_DAY = date(2025, 3, 3)  # a Monday


@dataclass(frozen=True)
class Scale:
    name: str
    symbols: int
    days: int  # trading days of the backfill = history of the first incremental run
    history_long: int  # history (trading days) of the second incremental run
    bars_per_day: int = 390
    ingest_symbols: int = 64  # symbols of the ingest-throughput scenario
    extend_chunk_days: int = 5  # history beyond `days` is loaded in runs of this many days
    daily_history_days: int = 400  # the daily scenario's history (make run's window)
    repeats: int = 3  # runs of each timed shape of the daily scenario
    # history_loads: the same multi-day load on a short and on a long history
    history_symbols: int = 32
    history_short: int = 20
    history_long_loads: int = 250
    history_load_days: int = 5
    # the histories are loaded in runs of this many trading days: one-minute bars reach
    # back 30 calendar days from a run's end (the Yahoo planner refuses more)
    history_chunk_days: int = 20

    @property
    def bars(self) -> int:
        return self.symbols * self.days * self.bars_per_day

    def describe(self) -> dict[str, object]:
        return {**asdict(self), "backfill_bars": self.bars}


SCALES = {
    # the figures: ~1M one-minute bars, incremental on 20 and 60 days of history
    "full": Scale("full", symbols=128, days=20, history_long=60, ingest_symbols=128),
    # about two minutes on a 2-core machine
    "small": Scale(
        "small",
        symbols=8,
        days=5,
        history_long=10,
        ingest_symbols=64,
        history_symbols=8,
        history_short=5,
        history_long_loads=25,
    ),
    # the harness test: every scenario, as little data as makes sense
    "tiny": Scale(
        "tiny",
        symbols=3,
        days=2,
        history_long=4,
        ingest_symbols=16,
        extend_chunk_days=5,
        daily_history_days=20,
        repeats=1,
        history_symbols=2,
        history_short=2,
        history_long_loads=6,
        history_load_days=2,
        history_chunk_days=5,
    ),
}


def symbols(count: int, prefix: str = "B") -> list[str]:
    """``count`` symbols; one in eight trades in São Paulo and one in eight in Tokyo, so
    exchange-local trade dates and time zones are exercised like the real watchlist."""
    out = []
    for i in range(count):
        suffix = {3: ".SA", 6: ".T"}.get(i % 8, "")
        out.append(f"{prefix}{i:03d}{suffix}")
    return out


def trading_days(count: int, first: date = FIRST_DAY) -> list[date]:
    days, day = [], first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def span(days: list[date]) -> Interval:
    """The half-open interval from the first to the day after the last of ``days``."""
    return Interval(days[0], days[-1] + timedelta(days=1))


@dataclass(frozen=True)
class Timeline:
    backfill: Interval
    incremental_short: Interval  # the day after `days` days of history
    extension: list[Interval]  # history up to `history_long` days (not timed)
    incremental_long: Interval  # the day after `history_long` days of history


def timeline(scale: Scale) -> Timeline:
    days = trading_days(scale.history_long + 1)
    backfill = span(days[: scale.days])
    short = Interval.for_date(days[scale.days])
    rest = days[scale.days + 1 : scale.history_long]
    chunks = [
        span(rest[i : i + scale.extend_chunk_days])
        for i in range(0, len(rest), scale.extend_chunk_days)
    ]
    return Timeline(backfill, short, chunks, Interval.for_date(days[scale.history_long]))


class LatencyServer:
    """``python -m bench.latency_api`` in a child process (its own GIL)."""

    def __init__(self, latency_ms: float, bars_per_day: int, seed: int = 42) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
            ).rstrip(os.pathsep),
        }
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                sys.executable,
                "-m",
                "bench.latency_api",
                "--latency-ms",
                str(latency_ms),
                "--bars-per-day",
                str(bars_per_day),
                "--seed",
                str(seed),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line.startswith("http://"):
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"latency server did not start: {line!r} {err}")
        self.base_url = line
        self.stats = ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                _, err = self.proc.communicate(timeout=10)
                self.stats = (err or "").strip().splitlines()[-1:] and err.strip().splitlines()[-1]
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()

    def __enter__(self) -> LatencyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
