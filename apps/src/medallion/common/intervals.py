"""The half-open UTC date interval [start, end) that every stage processes.

Airflow passes its data interval; backfills pass any past range. Nothing here
looks at the wall clock, so re-running an interval is deterministic.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


@dataclass(frozen=True, order=True)
class Interval:
    start: date
    end: date  # exclusive

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"interval end {self.end} must be after start {self.start}")

    @classmethod
    def for_date(cls, day: date) -> Interval:
        return cls(day, day + timedelta(days=1))

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_utc(self) -> datetime:
        return datetime.combine(self.end, time.min, tzinfo=UTC)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]

    @property
    def run_id(self) -> str:
        """Deterministic id of the interval, used in bronze object names."""
        return f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"

    def __str__(self) -> str:
        return f"[{self.start}, {self.end})"


def parse_day(text: str) -> date:
    """Parse ``YYYY-MM-DD`` (or an ISO timestamp, as Airflow renders) to a date."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


def add_interval_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("interval (half-open, UTC dates)")
    group.add_argument("--start", type=parse_day, help="first day to process, e.g. 2026-01-05")
    group.add_argument("--end", type=parse_day, help="day after the last one (exclusive)")
    group.add_argument(
        "--date", type=parse_day, help="one logical date: same as --start D --end D+1"
    )
    parser.set_defaults(_interval_required=required)


def interval_from_args(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> Interval | None:
    if args.date is not None:
        if args.start is not None or args.end is not None:
            parser.error("give either --date or --start/--end, not both")
        return Interval.for_date(args.date)
    if args.start is None and args.end is None:
        if getattr(args, "_interval_required", True):
            parser.error("an interval is required: --date D, or --start D1 --end D2")
        return None
    if args.start is None or args.end is None:
        parser.error("--start and --end go together")
    if args.end <= args.start:
        parser.error(f"--end {args.end} must be after --start {args.start}")
    return Interval(args.start, args.end)
