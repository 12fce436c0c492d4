"""Fixtures for the ingestor's integration tests: the fake market API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.market_api import FakeMarketApi  # the repo root is on sys.path (pytest.ini)


@pytest.fixture
def market_api() -> Iterator[FakeMarketApi]:
    with FakeMarketApi(seed=42, bars_per_day=1) as api:
        yield api


class SleepRecorder:
    """Injected instead of time.sleep: backoff is asserted, not waited for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()
