"""The comparator for the incremental scenario: a naive full rebuild.

The pattern common in peer projects: every run re-reads ALL of bronze, recomputes
silver and gold from scratch and overwrites both tables. It uses the very same
transformation functions as the real jobs (medallion.transformer.transform,
medallion.aggregator.metrics) and the same file reader, so the difference measured is
the incremental machinery (manifest, MERGE with pruning, Change Data Feed, look-back
window), not the transformations. It writes to its own tables (``naive/...``) so the
real pipeline's tables are not touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from medallion.common.config import Config


@dataclass
class NaiveResult:
    objects: int = 0
    silver_rows: int = 0
    gold_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def silver_gold_seconds(self) -> float:
        return round(sum(self.seconds.values()), 3)


def run_naive_rebuild(spark: Any, config: Config, root: str = "naive") -> NaiveResult:
    from pyspark.sql import functions as F

    from medallion.aggregator.metrics import (
        GOLD_COLUMNS,
        adjusted_bars,
        daily_bars,
        dividend_factors,
        with_metrics,
        with_total_return,
    )
    from medallion.common.storage import store_from_config
    from medallion.ingestor.bronze import list_bronze_objects
    from medallion.transformer import transform as T
    from medallion.transformer.job import OPEN_COST_BYTES, read_bronze_files, valid_zone_ids
    from medallion.transformer.schemas import PRICES

    out = NaiveResult()
    started = time.perf_counter()
    store = store_from_config(config)
    keys = [b.key for b in list_bronze_objects(store)]  # everything, every run
    out.objects = len(keys)
    uris = [store.uri(k) for k in keys] + [
        store.uri(k[: -len(".json")] + ".meta.json") for k in keys
    ]
    previous = spark.conf.get("spark.sql.files.openCostInBytes", None)
    spark.conf.set("spark.sql.files.openCostInBytes", OPEN_COST_BYTES)  # same read as ours
    try:
        objects = T.bronze_objects(read_bronze_files(spark, uris))
        classified = T.classify(
            T.explode_bars(T.payloads(objects, valid_zone_ids(spark))), config.watchlist
        )
        silver_path = config.lake_path(root, "silver", "prices")
        T.silver_rows(classified).write.format("delta").mode("overwrite").option(
            "overwriteSchema", "true"
        ).partitionBy(*PRICES.partition_by).save(silver_path)  # silver's own layout
        T.quarantine_rows(classified, "naive").write.format("delta").mode("overwrite").option(
            "overwriteSchema", "true"
        ).save(config.lake_path(root, "silver", "quarantine"))
        out.seconds["silver"] = round(time.perf_counter() - started, 3)

        started = time.perf_counter()
        silver = spark.read.format("delta").load(silver_path)
        actions = T.action_rows(
            T.classify_actions(
                T.explode_actions(T.payloads(objects, valid_zone_ids(spark))), config.watchlist
            )
        )
        daily = daily_bars(adjusted_bars(silver, actions))
        gold = with_metrics(with_total_return(daily, dividend_factors(daily, actions))).select(
            *GOLD_COLUMNS
        )
        gold_path = config.lake_path(root, "gold", "daily")
        gold.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
            gold_path
        )
        out.seconds["gold"] = round(time.perf_counter() - started, 3)
    finally:
        if previous is None:
            spark.conf.unset("spark.sql.files.openCostInBytes")
        else:
            spark.conf.set("spark.sql.files.openCostInBytes", previous)
    # counted after the clock stopped (the naive job would not count)
    out.silver_rows = spark.read.format("delta").load(silver_path).count()
    out.gold_rows = spark.read.format("delta").load(gold_path).where(F.lit(True)).count()
    return out
