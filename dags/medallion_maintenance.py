"""medallion_maintenance: OPTIMIZE and VACUUM the silver and gold Delta tables weekly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import medallion_dag_support as support
from airflow.sdk import DAG, CronTriggerTimetable, Param

MIN_RETAIN_HOURS = 168  # 7 days; the job refuses less too

DOC = """
### medallion_maintenance

Compacts small files (`OPTIMIZE`) and removes files no longer referenced
(`VACUUM`) in the silver and gold Delta tables, by running
`medallion maintain --retain-hours N` in a pod in namespace `medallion`.

The retention is at least 7 days (168 h) and can only be made longer: a shorter
one could delete files that a reader or a time-travel query still needs.

Scheduled Sunday 03:00 UTC, when `market_data` (Monday–Friday 22:30 UTC) does not
run: Delta on S3 allows one writer per table. Do not run a backfill of
`market_data` at the same time.
"""

with DAG(
    dag_id="medallion_maintenance",
    description="OPTIMIZE + VACUUM (retention >= 7 days) of the Delta tables",
    schedule=CronTriggerTimetable("0 3 * * 0", timezone="UTC"),
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    # Airflow pauses new DAGs by default: the schedule would never fire and a triggered
    # run would stay queued until someone unpauses it in the UI.
    is_paused_upon_creation=False,
    dagrun_timeout=timedelta(hours=4),
    default_args=support.default_args(retries=1),
    tags=[*support.TAGS, "maintenance"],
    doc_md=DOC,
    params={
        "retain_hours": Param(
            MIN_RETAIN_HOURS,
            type="integer",
            minimum=MIN_RETAIN_HOURS,
            description="VACUUM retention in hours (minimum 168 = 7 days).",
        ),
    },
) as dag:
    support.stage_pod("maintain", ["--retain-hours", "{{ params.retain_hours }}"])
