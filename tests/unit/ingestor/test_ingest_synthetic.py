"""The synthetic source: deterministic, Yahoo-shaped, at exchange session times."""

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from medallion.ingestor.payloads import body_stats, classify
from medallion.ingestor.sources.base import Window
from medallion.ingestor.sources.synthetic import SyntheticSource, day_bars

pytestmark = pytest.mark.unit

WEEK = Window(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC))


def doc(fetched):
    return json.loads(fetched.body)["chart"]["result"][0]


def test_same_inputs_give_byte_identical_payloads():
    a = SyntheticSource(42, 1).fetch("AAPL", "1d", WEEK)
    b = SyntheticSource(42, 1).fetch("AAPL", "1d", WEEK)
    assert a.body == b.body
    assert SyntheticSource(43, 1).fetch("AAPL", "1d", WEEK).body != a.body
    assert SyntheticSource(42, 1).fetch("MSFT", "1d", WEEK).body != a.body


def test_a_day_is_the_same_whatever_window_contains_it():
    src = SyntheticSource(7, 1)
    wide = doc(src.fetch("NVDA", "1d", WEEK))
    narrow = doc(
        src.fetch(
            "NVDA",
            "1d",
            Window(datetime(2026, 1, 7, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)),
        )
    )
    i = wide["timestamp"].index(narrow["timestamp"][0])
    for field in ("open", "high", "low", "close", "volume"):
        assert (
            wide["indicators"]["quote"][0][field][i]
            == narrow["indicators"]["quote"][0][field][0]
        )


def test_weekends_have_no_bars_and_payload_is_yahoo_shaped():
    result = doc(SyntheticSource(42, 1).fetch("AAPL", "1d", WEEK))
    days = [datetime.fromtimestamp(ts, UTC).date() for ts in result["timestamp"]]
    assert days == [date(2026, 1, d) for d in (5, 6, 7, 8, 9)]
    meta = result["meta"]
    assert meta["exchangeTimezoneName"] == "America/New_York"
    assert meta["gmtoffset"] == -18000 and meta["timezone"] == "EST"
    quote = result["indicators"]["quote"][0]
    assert all(len(quote[k]) == 5 for k in ("open", "high", "low", "close", "volume"))
    assert result["indicators"]["adjclose"][0]["adjclose"] == quote["close"]
    for o, h, low, c in zip(
        quote["open"], quote["high"], quote["low"], quote["close"], strict=True
    ):
        assert low <= min(o, c) <= max(o, c) <= h and low > 0


def test_weekend_window_is_an_empty_but_valid_chart():
    src = SyntheticSource(42, 1)
    fetched = src.fetch(
        "AAPL",
        "1d",
        Window(datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC)),
    )
    assert classify(fetched.body, 200, fetched.content_type) == (None, None)
    assert body_stats(fetched.body).bars == 0


@pytest.mark.parametrize(
    ("symbol", "zone", "open_local", "offset"),
    [
        ("AAPL", "America/New_York", (9, 30), -18000),
        ("PETR4.SA", "America/Sao_Paulo", (10, 0), -10800),
        ("7203.T", "Asia/Tokyo", (9, 0), 32400),
    ],
)
def test_intraday_bars_sit_in_the_exchange_session(symbol, zone, open_local, offset):
    src = SyntheticSource(42, 78)
    result = doc(
        src.fetch(
            symbol,
            "5m",
            Window(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 7, tzinfo=UTC)),
        )
    )
    local = [
        datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(zone))
        for ts in result["timestamp"]
    ]
    assert result["meta"]["exchangeTimezoneName"] == zone
    assert result["meta"]["gmtoffset"] == offset
    firsts = sorted(
        {
            (t.date(), t.time())
            for t in local
            if t.time().hour * 60 + t.time().minute
            == open_local[0] * 60 + open_local[1]
        }
    )
    assert firsts, "a bar at the session open"
    steps = {b - a for a, b in itertools.pairwise(local) if a.date() == b.date()}
    assert steps == {timedelta(minutes=5)}
    per_day = {}
    for t in local:
        per_day[t.date()] = per_day.get(t.date(), 0) + 1
    assert all(n <= 78 for n in per_day.values())


def test_bars_per_day_is_respected_and_days_join_up():
    bars = day_bars(42, "AAPL", "1m", date(2026, 1, 5), 390)
    assert len(bars) == 390
    nxt = day_bars(42, "AAPL", "1m", date(2026, 1, 6), 390)
    # the walk is continuous: the next open is within a small gap of the last close
    assert abs(nxt[0].open / bars[-1].close - 1) < 0.02
    assert day_bars(42, "AAPL", "1d", date(2026, 1, 10), 1) == []  # Saturday
