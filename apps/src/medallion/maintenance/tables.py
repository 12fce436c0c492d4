"""OPTIMIZE (compaction) and VACUUM of the lake's Delta tables.

VACUUM never goes below seven days of retention: a shorter one can delete files that
a concurrent reader or a time-travel query still needs, and Delta's own safety check
(spark.databricks.delta.retentionDurationCheck.enabled) stays on.
One writer per table: maintenance holds every table's lease (a stage that runs at the
same time waits or is refused). The maintenance DAG is scheduled on Sundays, when the
weekday-only market_data DAG does not run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from medallion.common.config import Config
from medallion.common.lease import fence, writer_lease

logger = logging.getLogger(__name__)

MIN_RETENTION_HOURS = 168
TABLES = (
    ("silver", "prices"),
    ("silver", "corporate_actions"),
    ("silver", "quarantine"),
    ("silver", "_processed"),
    ("gold", "daily"),
    ("gold", "_state"),
)


@dataclass(frozen=True)
class MaintenanceResult:
    tables: tuple[str, ...]
    skipped: tuple[str, ...]
    retain_hours: int
    seconds: float


def check_retention(retain_hours: int) -> int:
    if retain_hours < MIN_RETENTION_HOURS:
        raise ValueError(
            f"VACUUM retention {retain_hours} h is below the minimum of {MIN_RETENTION_HOURS} h"
        )
    return retain_hours


@writer_lease("maintain", *("/".join(parts) for parts in TABLES))
def run_maintenance(
    config: Config, retain_hours: int = MIN_RETENTION_HOURS, spark=None, vacuum: bool = True
) -> MaintenanceResult:
    from delta.tables import DeltaTable

    from medallion.common.spark import build_spark_session

    check_retention(retain_hours)
    spark = spark or build_spark_session(config, app_name="medallion-maintain")
    started = time.monotonic()
    done, skipped = [], []
    for parts in TABLES:
        path = config.lake_path(*parts)
        name = "/".join(parts)
        if not DeltaTable.isDeltaTable(spark, path):
            skipped.append(name)
            continue
        table = DeltaTable.forPath(spark, path)
        fence(path)
        table.optimize().executeCompaction()
        if vacuum:
            table.vacuum(retain_hours)
        done.append(name)
        logger.info("maintained %s (retain %d h)", name, retain_hours)
    return MaintenanceResult(tuple(done), tuple(skipped), retain_hours, time.monotonic() - started)
