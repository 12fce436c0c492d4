"""The session settings the benchmark profile led to, checked on the live SparkSession.

Each one cost seconds per run when missing (see bench/README.md, "Where the time goes"),
and none changes a result, so only these tests notice if one is lost.
"""

from __future__ import annotations

from datetime import date

from medallion.common.config import load_config
from medallion.common.delta import table_is_empty, tables_ensured
from medallion.common.intervals import Interval
from medallion.transformer.job import processed_keys, read_bronze_files, silver_tables
from tests.spark_jobs import jobs_started


def test_an_explicit_list_of_many_files_is_listed_by_the_driver(spark, tmp_path):
    # 40 paths: above Spark's default threshold of 32, which would start a listing job
    # of one task per path.
    paths = []
    for i in range(40):
        path = tmp_path / f"object-{i:02d}.json"
        path.write_text(f'{{"i": {i}}}')
        paths.append(str(path))

    frames = []
    assert jobs_started(spark, lambda: frames.append(read_bronze_files(spark, paths))) == 0
    assert frames[0].count() == 40


def test_the_driver_jvm_runs_the_parallel_collector(spark):
    beans = spark._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    names = {str(bean.getName()) for bean in beans}
    assert names == {"PS Scavenge", "PS MarkSweep"}, names


def test_the_manifest_of_a_new_lake_is_answered_from_the_log(spark, tmp_path):
    config = load_config({"LAKE_ROOT": str(tmp_path / "lake")})
    with tables_ensured(spark, silver_tables(config)):
        pass  # the tables of a new lake, created as the transform creates them
    # The first snapshot of a new table costs Delta a few jobs whatever reads it next
    # (the silver prices table pays it too); what must not follow is a scan of the table.
    assert table_is_empty(spark, config.lake_path("silver", "_processed"))
    interval = Interval(date(2025, 3, 3), date(2025, 3, 4))

    found = []
    assert jobs_started(spark, lambda: found.append(processed_keys(spark, config, interval))) == 0
    assert found == [set()]


def test_column_functions_make_no_call_site_round_trips(spark, monkeypatch):
    """PySpark's DataFrame debugging would send every column function's Python call site to
    the JVM (three Py4J round trips per F.col, F.when, ...: ~1 s of a `make run` pipeline)."""
    import pyspark.errors.utils as pyspark_errors
    from pyspark.sql import functions as F

    captured = []
    monkeypatch.setattr(pyspark_errors, "_enable_debugging_cache", None)  # read the session's
    monkeypatch.setattr(
        pyspark_errors, "_capture_call_site", lambda depth: captured.append(depth) or ""
    )
    spark.range(3).select(F.when(F.col("id") > 1, F.lit("big")).alias("size")).collect()
    assert captured == [], "the session records the call site of every column function"


def test_a_session_declared_short_compiles_with_c1_only(spark):
    """The tests' session says it is a short run (build_spark_session(short_run=True)): its
    JVM got the short run's options (SHORT_RUN_JVM_OPTIONS), as a stage's day would."""
    from medallion.common.spark import SHORT_RUN_JVM_OPTIONS

    bean = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = {str(a) for a in bean.getInputArguments()}
    assert set(SHORT_RUN_JVM_OPTIONS.split()) <= arguments, sorted(arguments)
