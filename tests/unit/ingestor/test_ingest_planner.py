"""What each run asks for: only missing ranges, with overlap, in allowed chunks."""

from datetime import UTC, datetime, timedelta

import pytest

from medallion.ingestor.planner import chunk, plan
from medallion.ingestor.sources.base import Limits, SourceError, Window
from medallion.ingestor.sources.yahoo import chart_limits
from medallion.ingestor.state import Covered, merge, subtract

pytestmark = pytest.mark.unit

DAY = timedelta(days=1)


def d(day: int, hour: int = 0, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def w(a: datetime, b: datetime) -> Window:
    return Window(a, b)


def test_chunk_splits_into_spans():
    pieces = chunk(w(d(1), d(20)), timedelta(days=7))
    assert pieces == [w(d(1), d(8)), w(d(8), d(15)), w(d(15), d(20))]
    assert chunk(w(d(1), d(3)), None) == [w(d(1), d(3))]


def test_merge_joins_overlapping_and_touching_ranges_keeping_latest_bar():
    ranges = merge([Covered(d(1), d(3), d(2, 14))], Covered(d(3), d(5), d(4, 14)))
    ranges = merge(ranges, Covered(d(10), d(12), None))
    assert ranges == [Covered(d(1), d(5)), Covered(d(10), d(12))]
    assert ranges[0].last_bar == d(4, 14)


def test_subtract_finds_gaps():
    covered = [Covered(d(5), d(10)), Covered(d(15), d(20))]
    assert subtract(w(d(1), d(25)), covered) == [
        w(d(1), d(5)),
        w(d(10), d(15)),
        w(d(20), d(25)),
    ]
    assert subtract(w(d(6), d(9)), covered) == []


def test_first_run_fetches_whole_interval():
    got = plan(w(d(5), d(8)), [], bar=DAY, limits=Limits(), now=d(20), live=True)
    assert got == [w(d(5), d(8))]


def test_rerun_of_covered_interval_fetches_nothing():
    covered = [Covered(d(5), d(8), d(7, 14))]
    assert (
        plan(w(d(5), d(8)), covered, bar=DAY, limits=Limits(), now=d(20), live=True)
        == []
    )


def test_next_interval_starts_at_last_stored_bar():
    covered = [Covered(d(5), d(10), d(9, 14))]
    got = plan(w(d(12), d(13)), covered, bar=DAY, limits=Limits(), now=d(20), live=True)
    assert got == [w(d(12), d(13))]  # not adjacent: a gap (weekend) is its own piece
    got = plan(w(d(10), d(13)), covered, bar=DAY, limits=Limits(), now=d(20), live=True)
    assert got == [w(d(9), d(13))]  # one bar back covers Friday's bar
    holiday = [
        Covered(d(5), d(10), d(8, 14))
    ]  # Friday was a holiday: Thursday's bar is last
    got = plan(w(d(10), d(13)), holiday, bar=DAY, limits=Limits(), now=d(20), live=True)
    assert got == [w(d(8, 14), d(13))]


def test_overlap_is_at_least_one_bar_and_bounded():
    covered = [Covered(d(1), d(10), d(1, 14))]  # last bar long ago (halted symbol)
    got = plan(w(d(10), d(11)), covered, bar=DAY, limits=Limits(), now=d(20), live=True)
    assert got == [w(d(9), d(11))]


def test_backfill_of_earlier_range_is_fetched():
    covered = [Covered(d(10), d(20), d(19, 14))]
    got = plan(w(d(1), d(12)), covered, bar=DAY, limits=Limits(), now=d(25), live=True)
    assert got == [w(d(1), d(10))]


def test_live_source_is_clipped_to_now_and_future_is_skipped():
    now = d(6, 15)
    assert plan(w(d(5), d(7)), [], bar=DAY, limits=Limits(), now=now, live=True) == [
        w(d(5), now)
    ]
    assert plan(w(d(7), d(8)), [], bar=DAY, limits=Limits(), now=now, live=True) == []
    # synthetic is not clipped: the same interval always plans the same windows
    assert plan(w(d(5), d(7)), [], bar=DAY, limits=Limits(), now=now, live=False) == [
        w(d(5), d(7))
    ]


def test_partially_covered_today_resumes_from_last_bar():
    covered = [Covered(d(6), d(6, 15), d(6, 14))]
    got = plan(
        w(d(6), d(7)),
        covered,
        bar=timedelta(minutes=5),
        limits=chart_limits("5m"),
        now=d(6, 20),
        live=True,
    )
    assert got == [w(d(6, 14), d(6, 20))]


def test_one_minute_bars_are_chunked_by_seven_days():
    now = d(28)
    got = plan(
        w(d(5), d(25)),
        [],
        bar=timedelta(minutes=1),
        limits=chart_limits("1m"),
        now=now,
        live=True,
    )
    assert [p.end - p.start for p in got] == [timedelta(days=7)] * 2 + [
        timedelta(days=6)
    ]
    assert got[0].start == d(5) and got[-1].end == d(25)


def test_one_minute_bars_beyond_horizon_raise_a_clear_error():
    with pytest.raises(SourceError, match="30 days"):
        plan(
            w(d(1), d(5)),
            [],
            bar=timedelta(minutes=1),
            limits=chart_limits("1m"),
            now=d(20, month=2),
            live=True,
            label="yahoo 1m bars",
        )
    # ...but not for the synthetic source
    got = plan(
        w(d(1), d(5)),
        [],
        bar=timedelta(minutes=1),
        limits=chart_limits("1m"),
        now=d(20, month=2),
        live=False,
    )
    assert got == [w(d(1), d(5))]


def test_overlap_never_reaches_past_the_horizon():
    now = d(31, 20)  # oldest 1m bar available: Jan 1 20:00
    covered = [Covered(d(1, 12), d(2), d(1, 14))]
    got = plan(
        w(d(2), d(3)),
        covered,
        bar=timedelta(minutes=1),
        limits=chart_limits("1m"),
        now=now,
        live=True,
    )
    assert got == [w(d(1, 20), d(3))]


def test_unranged_source_asks_once_for_the_hull():
    covered = [Covered(d(5), d(10), d(9, 14))]
    got = plan(
        w(d(1), d(15)),
        covered,
        bar=DAY,
        limits=Limits(),
        now=d(20),
        live=True,
        ranged=False,
    )
    assert got == [w(d(1), d(15))]
