import argparse
from datetime import date

import pytest

from medallion.common.intervals import (
    Interval,
    add_interval_arguments,
    interval_from_args,
)


def parse(*argv, required=True):
    parser = argparse.ArgumentParser()
    add_interval_arguments(parser, required=required)
    return interval_from_args(parser.parse_args(list(argv)), parser)


def test_a_logical_date_is_one_half_open_day():
    interval = parse("--date", "2026-03-06")
    assert interval == Interval(date(2026, 3, 6), date(2026, 3, 7))
    assert interval.days() == [date(2026, 3, 6)]
    assert interval.run_id == "20260306-20260307"


def test_airflow_timestamps_are_accepted():
    assert parse(
        "--start", "2026-03-06T00:00:00+00:00", "--end", "2026-03-09T00:00:00Z"
    ) == Interval(date(2026, 3, 6), date(2026, 3, 9))


@pytest.mark.parametrize(
    "argv",
    [
        ("--start", "2026-03-06"),
        ("--date", "2026-03-06", "--end", "2026-03-07"),
        ("--start", "2026-03-06", "--end", "2026-03-06"),
        ("--date", "06/03/2026"),
        (),
    ],
)
def test_bad_intervals_are_refused(argv):
    with pytest.raises(SystemExit):
        parse(*argv)


def test_an_optional_interval_may_be_absent():
    assert parse(required=False) is None


def test_an_empty_interval_cannot_be_built():
    with pytest.raises(ValueError):
        Interval(date(2026, 1, 2), date(2026, 1, 2))
