"""Decide which requests a run makes: only what bronze is missing, in allowed chunks.

Pure functions of (requested window, covered ranges, source limits, now), so the
incremental behaviour is unit-tested without any I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from medallion.ingestor.sources.base import Limits, SourceError, Window
from medallion.ingestor.state import Covered, subtract

# How far back "since the last stored bar" may reach (long weekends, holidays).
MAX_LOOKBACK = timedelta(days=7)


def chunk(window: Window, max_span: timedelta | None) -> list[Window]:
    """Split ``window`` into consecutive pieces no longer than ``max_span``."""
    if max_span is None or window.end - window.start <= max_span:
        return [window]
    pieces, cursor = [], window.start
    while cursor < window.end:
        end = min(cursor + max_span, window.end)
        pieces.append(Window(cursor, end))
        cursor = end
    return pieces


def _with_overlap(piece: Window, ranges: list[Covered], bar: timedelta) -> Window:
    """Re-ask from the last stored bar (at least one bar back) when ``piece`` continues
    a covered range: the last bar may have been in progress, or revised since."""
    before = [r for r in ranges if r.end == piece.start]
    if not before:
        return piece
    start = piece.start - bar
    last_bar = before[0].last_bar
    if last_bar is not None and piece.start - MAX_LOOKBACK <= last_bar < start:
        start = last_bar
    return Window(start, piece.end)


def plan(
    requested: Window,
    covered: list[Covered],
    *,
    bar: timedelta,
    limits: Limits,
    now: datetime,
    live: bool,
    ranged: bool = True,
    label: str = "",
) -> list[Window]:
    """The windows to fetch for one (source, symbol, bar interval), in time order.

    Raises :class:`SourceError` when a live source cannot serve the missing range
    (intraday history beyond the API's horizon).
    """
    if live:
        if requested.start >= now:
            return []  # nothing has happened yet
        if requested.end > now:
            requested = Window(requested.start, now)
    pieces = subtract(requested, covered)
    if not pieces:
        return []
    if live and limits.horizon is not None:
        oldest = now - limits.horizon
        if pieces[0].start < oldest:
            raise SourceError(
                f"{label or 'the source'} only keeps {limits.horizon.days} days of this bar "
                f"interval: cannot fetch from {pieces[0].start:%Y-%m-%d} (oldest available "
                f"{oldest:%Y-%m-%d}). Use a coarser BAR_INTERVAL (e.g. 1d) for backfills, "
                "or MARKET_SOURCE=synthetic"
            )
    windows = [_with_overlap(p, covered, bar) for p in pieces]
    if live and limits.horizon is not None:
        oldest = now - limits.horizon
        windows = [Window(max(w.start, oldest), w.end) for w in windows]
    if not ranged:
        # One call returns the whole series: ask once for the hull of what is missing.
        return [Window(windows[0].start, windows[-1].end)]
    return [c for w in windows for c in chunk(w, limits.max_span)]
