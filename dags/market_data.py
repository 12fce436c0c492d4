"""market_data: ingest → transform → aggregate → publish, once per trading day.

Each stage is one pod running the job image's CLI for the run's trading day (see
medallion_dag_support). The DAG only declares tasks; the logic lives in apps/.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import medallion_dag_support as support
from airflow.sdk import DAG, CronTriggerTimetable, Param, chain

DOC = """
### market_data

Ingest the watchlist's bars for one trading day into **bronze**, type and
de-duplicate them into **silver** (`prices`), compute the **gold** daily metrics
and publish them to PostgreSQL (`analytics.public.gold_daily`). Each task is a
pod in namespace `medallion` running `medallion <stage> --start D --end D+1`.

**Which day a run covers.** Scheduled at 22:30 UTC Monday–Friday, after the
close of New York, São Paulo and Tokyo. A run with logical date *D* processes the
half-open day `[D, D+1)` (UTC dates), whether scheduled, triggered by hand or
backfilled; every stage is idempotent, so re-running a day changes nothing.
Weekends are not scheduled: the watchlist's exchanges have no bars then.

**Overrides** (Trigger DAG w/ config): `watchlist` (comma-separated symbols) and
`bar_interval` (`1d`, `1h`, `5m`, …). Empty means: the Airflow Variable
`medallion_watchlist` if set, else the ConfigMap `medallion-config`.

**One writer per Delta table**: `max_active_runs=1` and stages in sequence.

**When a task fails**: its log holds the pod's output (the stage's JSON summary
is the last line); exit code 2 = bad configuration (the message names the
variable), 3 = market source unreachable, 4 = data contract violated.
"""

with DAG(
    dag_id="market_data",
    description="bronze → silver → gold → PostgreSQL for one trading day",
    schedule=CronTriggerTimetable("30 22 * * 1-5", timezone="UTC"),
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    # Airflow pauses new DAGs by default: the schedule would never fire and a triggered
    # run would stay queued until someone unpauses it in the UI.
    is_paused_upon_creation=False,
    dagrun_timeout=timedelta(hours=6),
    default_args=support.default_args(),
    tags=list(support.TAGS),
    doc_md=DOC,
    params={
        "watchlist": Param(
            "",
            type="string",
            pattern=r"^[A-Za-z0-9.\-^=, ]*$",
            description="Comma-separated symbols for this run; empty = Variable "
            "medallion_watchlist, else ConfigMap medallion-config.",
        ),
        "bar_interval": Param(
            "",
            enum=["", *support.BAR_INTERVALS],
            description="Bar size for this run; empty = ConfigMap medallion-config (1d).",
        ),
    },
) as dag:
    day = ["--start", support.DAY_START, "--end", support.DAY_END]
    overrides = {
        "WATCHLIST": support.WATCHLIST_TEMPLATE,
        "BAR_INTERVAL": support.BAR_INTERVAL_TEMPLATE,
    }
    chain(*(support.stage_pod(stage, day, env_overrides=overrides) for stage in support.PIPELINE))
