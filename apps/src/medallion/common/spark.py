"""The one place a SparkSession is built: UTC, Delta, S3A, jars from the local closure.

Jars come from ``Config.jars_dir`` (fetched by ``tools/fetch-jars.sh`` or baked into
the image) and go on the JVMs' class path; ``spark.jars.packages`` is never used, so
Spark starts without network.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.common.config import S3_ATTEMPTS, Config, ConfigError
from medallion.common.intervals import Interval
from medallion.common.spark_kubernetes import is_kubernetes, kubernetes_conf
from medallion.ingestor.sources.base import BAR_LENGTH

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


# Dates must never depend on the JVM's time zone. ParallelGC: a batch job wants
# throughput, not G1's short pauses (the silver backfill of the benchmark ran ~3 s
# faster in 35 s on 2 cores).
JVM_OPTIONS = "-Duser.timezone=UTC -XX:+UseParallelGC"
# The driver (in local mode it runs the tasks too) of a short run compiles with C1 only;
# a longer one keeps the JVM's tiered compilers (C1, then C2 for the hot code). Measured on
# 2 cores: C1 alone took `make run`'s pipeline from ~22 to ~18 s (C2's compiler threads
# take CPU the run needs, and C1's profiling tier runs slower code) and the 1M-bar gold job
# as its own process from 23 to 19 s, but the 10M-bar silver + gold from 120 to 239 s: C2
# compiles a long run's hot loops into much faster code. At 1M bars the two were within
# noise. A run's size is known before Spark starts (expected_bars). C1 alone gets a
# 48 MiB code cache, which Spark's generated classes fill ("CodeCache is full. Compiler has
# been disabled"); 240 MiB is what the JVM reserves when C2 is on.
SHORT_RUN_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
SHORT_RUN_MAX_BARS = 250_000
_SESSION = timedelta(minutes=390)  # a US equity session; other exchanges trade fewer minutes


def expected_bars(config: Config, interval: Interval) -> int:
    """An upper estimate of the bars a run over ``interval`` handles: every calendar day
    a full trading session of every symbol of the watchlist."""
    bar = BAR_LENGTH[config.bar_interval]
    per_day = 1 if bar >= timedelta(days=1) else math.ceil(_SESSION / bar)
    return len(config.watchlist) * len(interval.days()) * per_day


def driver_jvm_options(short_run: bool) -> str:
    return f"{JVM_OPTIONS} {SHORT_RUN_JVM_OPTIONS}" if short_run else JVM_OPTIONS


def jar_paths(jars_dir: str) -> list[str]:
    jars = sorted(str(p) for p in Path(jars_dir).glob("*.jar"))
    if not any("delta-spark" in Path(j).name for j in jars):
        raise ConfigError(
            f"MEDALLION_JARS_DIR={jars_dir!r} holds no Delta jars: run `tools/fetch-jars.sh` "
            "(or `make setup`) to fetch the pinned closure from Maven"
        )
    return jars


def driver_java_options(config: Config, short_run: bool = False) -> str:
    """The driver JVM's options: with SPARK_CDS_ARCHIVE, start from a class-data-sharing
    archive of the classes an earlier run loaded (Spark, Delta, Hadoop: most of a fresh
    JVM's start is loading and verifying them), or write that archive when this run ends
    (``medallion.common.cds`` builds it ahead of time). An archive of another JVM or class
    path is ignored by the JVM with a one-line warning."""
    base = driver_jvm_options(short_run)
    archive = config.spark_cds_archive
    if archive is None:
        return base
    if Path(archive).is_file():
        # That warning ("[warning][cds,dynamic] Unable to use shared archive...") goes to
        # stderr with the stage's logs instead of the JVM's default, stdout, where a
        # stage's JSON result goes; -Xlog:cds=off would not silence it (another tag set).
        return (
            f"{base} -XX:SharedArchiveFile={archive} "
            "-Xlog:cds+dynamic=off -Xlog:cds+dynamic=warning:stderr"
        )
    # -Xlog:cds=off: writing the archive lists every class it skips (thousands of lines)
    return f"{base} -XX:ArchiveClassesAtExit={archive} -Xlog:cds=off"


def spark_home_jars() -> list[str]:
    """Spark's own jars (SPARK_HOME/jars; pyspark's package folder without SPARK_HOME),
    sorted by name."""
    home = os.environ.get("SPARK_HOME")
    if not home:
        import pyspark

        home = str(Path(pyspark.__file__).parent)
    return sorted(str(p) for p in (Path(home) / "jars").glob("*.jar"))


def class_path(config: Config) -> str:
    """Spark's own jars in name order, then the jar closure (``Config.jars_dir``).

    Spark's first, as they came before when the closure was in spark.jars (a child class
    loader): where both hold a class (commons-logging's, which Spark's jcl-over-slf4j also
    provides), Spark's wins. In name order for the class-data-sharing archive, which
    records the class path up to the last entry it archived a class from and is ignored
    when that part differs: Spark's launcher gives its jars as `jars/*`, which Java expands
    in directory order, and another file system (an image unpacked on another node) lists
    them in another order. This list serves every class; the `jars/*` after it is unused.
    """
    return os.pathsep.join([*spark_home_jars(), *jar_paths(config.jars_dir)])


def spark_conf(config: Config, app_name: str, short_run: bool = False) -> dict[str, str]:
    """Every setting the jobs rely on, as plain key/values (testable without a JVM);
    ``short_run``: the driver compiles with C1 only (see SHORT_RUN_JVM_OPTIONS)."""
    jvm_class_path = class_path(config)
    conf = {
        "spark.app.name": app_name,
        "spark.master": config.spark_master,
        # The jar closure on the class path (class_path()), not in spark.jars: Spark
        # copies every jar of spark.jars into a temporary folder of each application,
        # even in local mode (656 MB, most of it the AWS SDK bundle: ~1.5 s of each Spark
        # start, measured, and left behind by a killed process). Executors (a cluster's,
        # the pods') run the same image or machine: the same paths hold the same jars.
        "spark.driver.extraClassPath": jvm_class_path,
        "spark.executor.extraClassPath": jvm_class_path,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # Dates must never depend on the JVM's or the pod's time zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": driver_java_options(config, short_run),
        "spark.executor.extraJavaOptions": JVM_OPTIONS,
        "spark.sql.ansi.enabled": "true",
        # PySpark's DataFrame debugging records the Python call site of every column
        # function (F.col, F.when, ...) in the JVM: three Py4J round trips each, ~1,300
        # calls and ~1 s of a `make run` pipeline (cProfile), for a line number in the
        # query context of an error (the traceback still names the action that failed).
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Small local batches: a handful of shuffle partitions beats the default 200.
        "spark.sql.shuffle.partitions": "4",
        # The silver job reads an explicit list of bronze files. Above 32 paths (the
        # default) Spark lists them in a Spark job of one task per path: 1024 tasks cost
        # ~6 s on 2 cores for what the driver lists in ~0.4 s. Jobs run in local mode, so
        # a distributed listing never has other machines to spread over.
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
        # The Delta log of these tables is small: replaying it in 50 tasks (the default)
        # cost ~15 s per stage on 2 cores, one task does it in well under a second.
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.databricks.delta.retentionDurationCheck.enabled": "true",
    }
    if is_kubernetes(config.spark_master):
        # The driver's own pod (downward API) and the executor settings; read here, at
        # session start, since only a k8s:// master needs them.
        conf.update(kubernetes_conf(os.environ))
    if config.is_s3:
        conf.update(
            {
                "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
                "spark.hadoop.fs.s3a.endpoint": config.s3_endpoint_url or "",
                "spark.hadoop.fs.s3a.endpoint.region": config.aws_region,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
                    (config.s3_endpoint_url or "").startswith("https://")
                ).lower(),
                "spark.hadoop.fs.s3a.aws.credentials.provider": (
                    "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
                ),
                "spark.hadoop.fs.s3a.access.key": config.aws_access_key_id or "",
                "spark.hadoop.fs.s3a.secret.key": config.aws_secret_access_key or "",
                # MinIO and other S3 servers: no AWS-only features, fail fast on a dead endpoint
                "spark.hadoop.fs.s3a.change.detection.mode": "none",
                # Bounded retries (503 SlowDown, resets, stalls), then the stage fails
                # with exit code 3 naming the server (outage.py). The AWS SDK tries a
                # call S3_ATTEMPTS times, S3A repeats a failed call up to retry.limit
                # (throttling: retry.throttle.limit) times; no byte for S3_TIMEOUT_S
                # abandons an attempt (S3A's defaults: 200 s, 7 and 20 retries).
                "spark.hadoop.fs.s3a.attempts.maximum": str(S3_ATTEMPTS),
                "spark.hadoop.fs.s3a.retry.limit": "2",
                "spark.hadoop.fs.s3a.retry.throttle.limit": "3",
                "spark.hadoop.fs.s3a.connection.timeout": f"{config.s3_timeout_s:g}s",
                "spark.hadoop.fs.s3a.connection.request.timeout": f"{2 * config.s3_timeout_s:g}s",
                "spark.hadoop.fs.s3a.connection.establish.timeout": (
                    f"{min(5.0, config.s3_timeout_s):g}s"
                ),
                # Delta's single-driver S3 log store: one writer per table at a time.
                "spark.delta.logStore.s3a.impl": "io.delta.storage.S3SingleDriverLogStore",
            }
        )
    return conf


def build_spark_session(
    config: Config,
    app_name: str = "medallion",
    interval: Interval | None = None,
    *,
    short_run: bool | None = None,
) -> SparkSession:
    """The session; a stage passes its ``interval`` so that a short run's driver compiles
    with C1 only (at most SHORT_RUN_MAX_BARS expected bars; see SHORT_RUN_JVM_OPTIONS).
    ``short_run`` says it outright (a session for many small inputs, as the tests')."""
    from pyspark.sql import SparkSession

    if short_run is None:
        short_run = interval is not None and expected_bars(config, interval) <= SHORT_RUN_MAX_BARS
    builder = SparkSession.builder
    for key, value in spark_conf(config, app_name, short_run).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    logger.info(
        "spark session %s started (master %s, %s run)",
        app_name,
        config.spark_master,
        "short" if short_run else "long",
    )
    return spark
