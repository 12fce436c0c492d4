"""Property: a series split at a random day by a random ratio gives the same
split-adjusted gold as the series that never split — whether its history was stored as
traded (fetched before the ex-date) or already adjusted by the provider (fetched after).

The unsplit series is the oracle: no corporate action touches it.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medallion.aggregator.metrics import adjusted_bars, daily_bars, gold_rows
from tests.unit.aggregator.frames import ACTIONS, DAILY, SILVER

D0 = date(2024, 1, 1)
COMPARED = ("open_adj", "high_adj", "low_adj", "close_adj", "volume_adj", "close_tr", "vwap",
            "return_simple", "return_log", "return_total", "sma_20", "volatility_20d",
            "drawdown", "high_52w", "low_52w")


def evening(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 22, 0)


def gold(spark, rows, actions):
    silver = spark.createDataFrame(rows, SILVER)
    acts = spark.createDataFrame(actions, ACTIONS)
    starts = spark.createDataFrame([("X", D0)], "symbol string, start date")
    empty = spark.createDataFrame([], DAILY)
    out = gold_rows(daily_bars(adjusted_bars(silver, acts)), empty, starts, acts)
    return {r["trade_date"]: r.asDict() for r in out.collect()}


series = st.integers(min_value=22, max_value=26).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(min_value=5.0, max_value=500.0), min_size=n, max_size=n),
        st.lists(st.integers(min_value=0, max_value=50), min_size=n, max_size=n),
        st.integers(min_value=1, max_value=n - 1),
    )
)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(series, st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=4),
       st.booleans(), st.one_of(st.none(), st.floats(min_value=0.01, max_value=2.0)))
def test_a_split_changes_no_adjusted_metric(spark, data, numerator, denominator,
                                            fetched_after, dividend):
    closes, lots, split_at = data
    if numerator == denominator:
        numerator += 1
    ratio = numerator / denominator
    days = [D0 + timedelta(days=i) for i in range(len(closes))]
    ex_date = days[split_at]
    last = evening(days[-1])

    def bar(i, factor, fetched):
        c = closes[i]
        volume = lots[i] * numerator * denominator  # whole shares before and after
        return ("X", "1d", datetime.combine(days[i], datetime.min.time()) + timedelta(hours=15),
                days[i], c * 0.99 * factor, c * 1.02 * factor, c * 0.97 * factor, c * factor,
                None, round(volume / factor), "yahoo", "America/New_York", fetched)

    unsplit = [bar(i, 1.0, last) for i in range(len(closes))]
    if fetched_after:  # the provider already adjusted the history it returned
        split = unsplit
    else:  # stored as traded before the ex-date, fetched the evening before it
        split = [bar(i, ratio, evening(days[split_at - 1])) if i < split_at else unsplit[i]
                 for i in range(len(closes))]
    divs = []
    if dividend is not None:
        divs = [("X", "dividend", days[len(days) // 2], None, dividend, "yahoo",
                 "America/New_York", last)]
    split_action = [("X", "split", ex_date, ratio, None, "yahoo", "America/New_York", last)]

    want = gold(spark, unsplit, divs)
    got = gold(spark, split, split_action + divs)
    assert sorted(got) == sorted(want)
    for day, row in want.items():
        for column in COMPARED:
            a, b = row[column], got[day][column]
            assert (a is None) == (b is None), (day, column, a, b)
            if a is not None:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (day, column, a, b)
        # and the as-traded prices really are different before the ex-date
        expected_factor = ratio if day < ex_date else 1.0
        assert math.isclose(got[day]["split_factor"], expected_factor, rel_tol=1e-12)
        assert math.isclose(got[day]["close_raw"], row["close_adj"] * expected_factor,
                            rel_tol=1e-9)
