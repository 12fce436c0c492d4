"""Counting the Spark jobs an action starts, for tests of what must run none."""

from __future__ import annotations

from collections.abc import Callable


def jobs_started(spark, action: Callable[[], object]) -> int:
    """Spark jobs started while ``action`` ran. The status tracker is fed by the listener
    bus, asynchronously: the bus is drained before each read, so a job that started is
    counted even if its event was still queued."""
    context = spark.sparkContext
    tracker = context.statusTracker()

    def job_ids() -> set[int]:
        context._jsc.sc().listenerBus().waitUntilEmpty()
        return set(tracker.getJobIdsForGroup(None))

    before = job_ids()
    action()
    return len(job_ids() - before)
