"""Run every stage in one process, with one SparkSession, and summarise the run.

This is what `make run` calls. In the cluster each stage runs in its own pod instead
(the DAG), with the same functions behind the same CLIs.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from medallion.common.config import Config
from medallion.common.intervals import Interval

logger = logging.getLogger(__name__)


def _as_dict(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if dataclasses.is_dataclass(result):
        return dataclasses.asdict(result)
    if isinstance(result, dict):
        return dict(result)
    return {k: v for k, v in vars(result).items() if not k.startswith("_")}


def _timed(name: str, step: Callable[[], Any]) -> dict[str, Any]:
    started = time.monotonic()
    logger.info("stage %s: started", name)
    result = step()
    seconds = time.monotonic() - started
    logger.info("stage %s: done in %.1f s", name, seconds)
    return {"stage": name, "seconds": round(seconds, 2), "counts": _as_dict(result)}


def layer_counts(spark, config: Config) -> tuple[dict[str, int], dict[str, int]]:
    """Rows per layer now, and quarantined rows per rule."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from medallion.common.storage import store_from_config

    bronze = [
        k
        for k in store_from_config(config).list("bronze/source=")
        if k.endswith(".json") and not k.endswith(".meta.json")
    ]
    layers = {"bronze objects": len(bronze)}
    quarantine: dict[str, int] = {}
    for label, parts in (
        ("silver prices", ("silver", "prices")),
        ("silver corporate actions", ("silver", "corporate_actions")),
        ("silver quarantine", ("silver", "quarantine")),
        ("gold daily", ("gold", "daily")),
    ):
        path = config.lake_path(*parts)
        if DeltaTable.isDeltaTable(spark, path):
            frame = spark.read.format("delta").load(path)
            layers[label] = frame.count()
            if parts[1] == "quarantine":
                quarantine = {
                    r["rule"]: r["n"]
                    for r in frame.groupBy("rule")
                    .agg(F.count("*").alias("n"))
                    .orderBy("rule")
                    .collect()
                }
    return layers, quarantine


def gold_rows(spark, config: Config) -> list[dict[str, Any]]:
    from delta.tables import DeltaTable

    path = config.lake_path("gold", "daily")
    if not DeltaTable.isDeltaTable(spark, path):
        return []
    return [row.asDict() for row in spark.read.format("delta").load(path).collect()]


def run_pipeline(config: Config, interval: Interval, spark=None) -> tuple[dict[str, Any], list]:
    from medallion.aggregator.job import run_aggregate
    from medallion.common.spark import build_spark_session
    from medallion.ingestor.job import run_ingest
    from medallion.publisher.job import run_publish
    from medallion.transformer.job import run_transform

    config.require_analytics_dsn()  # fail before fetching anything, not after Spark work
    stages = [_timed("ingest", lambda: run_ingest(config, interval))]
    spark = spark or build_spark_session(config, "medallion-run", interval)
    stages.append(_timed("transform", lambda: run_transform(config, interval, spark=spark)))
    stages.append(_timed("aggregate", lambda: run_aggregate(config, interval, spark=spark)))
    stages.append(_timed("publish", lambda: run_publish(config, interval, spark=spark)))
    layers, quarantine = layer_counts(spark, config)
    summary = {
        "interval": str(interval),
        "source": config.market_source,
        "bar_interval": config.bar_interval,
        "watchlist": list(config.watchlist),
        "lake_root": config.lake_root,
        "stages": stages,
        "layers": layers,
        "quarantine_by_rule": quarantine,
        "seconds_total": round(sum(s["seconds"] for s in stages), 2),
    }
    return summary, gold_rows(spark, config)


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"medallion run {summary['interval']}  source={summary['source']} "
        f"bars={summary['bar_interval']}  symbols={','.join(summary['watchlist'])}",
        "",
    ]
    lines.append(f"  {'stage':<10} {'time':>8}")
    for stage in summary["stages"]:
        lines.append(f"  {stage['stage']:<10} {stage['seconds']:>7.1f}s")
    lines.append(f"  {'total':<10} {summary['seconds_total']:>7.1f}s")
    lines += ["", "  rows per layer:"]
    width = max([18, *map(len, summary["layers"])])
    lines += [f"    {name:<{width}} {count:>9,}" for name, count in summary["layers"].items()]
    aggregate = next((s["counts"] for s in summary["stages"] if s["stage"] == "aggregate"), {})
    if aggregate.get("rows_restated"):
        lines += ["", f"  gold rows restated by corporate actions: {aggregate['rows_restated']:,}"]
        lines += [f"    {symbol:<18} {', '.join(why)}"
                  for symbol, why in aggregate.get("restated", {}).items()]
    quarantine = summary["quarantine_by_rule"]
    lines += ["", "  quarantined rows by rule:" + ("" if quarantine else " none")]
    lines += [f"    {rule:<18} {count:>9,}" for rule, count in quarantine.items()]
    return "\n".join(lines)
