from datetime import UTC, datetime

import pytest

from medallion.common.storage import LocalStore
from medallion.ingestor.sources.base import Window
from medallion.ingestor.state import IngestState, StateStore, state_key

pytestmark = pytest.mark.unit


def t(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def test_state_round_trips_and_tracks_ranges(tmp_path):
    states = StateStore(LocalStore(tmp_path))
    state = states.load("yahoo", "AAPL", "1d")
    assert state.ranges == () and state.last_bar is None
    state = state.covering(Window(t(5), t(7)), t(6, 14), "r1")
    state = state.covering(Window(t(1), t(3)), t(2, 14), "r2")  # a backfill
    states.save(state)
    loaded = states.load("yahoo", "AAPL", "1d")
    assert loaded == state
    assert [(r.start, r.end) for r in loaded.ranges] == [(t(1), t(3)), (t(5), t(7))]
    assert loaded.last_bar == t(6, 14)
    assert loaded.updated_run == "r2"
    assert (tmp_path / state_key("yahoo", "AAPL", "1d")).is_file()


def test_corrupt_state_starts_over(tmp_path):
    store = LocalStore(tmp_path)
    store.put(state_key("yahoo", "AAPL", "1d"), b"{not json")
    assert StateStore(store).load("yahoo", "AAPL", "1d") == IngestState(
        "yahoo", "AAPL", "1d"
    )
