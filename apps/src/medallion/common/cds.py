"""The driver JVM's class-data-sharing archive (SPARK_CDS_ARCHIVE), built ahead of time.

Every stage runs in a fresh process and pays a fresh driver JVM, most of whose start is
loading and verifying Spark's, Delta's and Hadoop's classes. A dynamic CDS archive
written by a JVM that ran the stages' own code lets later JVMs map those classes
instead (``common/spark.py: driver_java_options``). The archive is only valid for the
exact JVM and class path (pyspark's jars: paths, sizes, modification times), so it is
built where it is used, by this one builder: ``make setup-run`` once per clone (in
``.cache/cds``) and the image build (``apps/docker/base.Dockerfile``)::

    python -m medallion.common.cds build PATH   write the archive to PATH
    python -m medallion.common.cds ensure DIR   build DIR/driver-<key>.jsa unless there, print it
    python -m medallion.common.cds path DIR     print DIR/driver-<key>.jsa; exit 1 if missing

The training run is the pipeline's own code on a tiny synthetic lake in a temporary
folder: two days of ingest, transform and aggregate, publish's read of gold's change
feed (without PostgreSQL), and an S3A file system set up against a closed local port
(the pods' lake is S3; no request is sent). Nothing is downloaded: the synthetic source
is generated in-process and the jars come from MEDALLION_JARS_DIR. The JVM writes the
archive to a temporary name next to PATH when it exits, and only a complete archive is
renamed to PATH: a reader never sees half an archive and a failed build leaves none.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

# Bump when the training run or the driver's class path (common/spark.py) changes, so
# every clone rebuilds its archive. 2: Spark's jars first, in name order. 3: the jar
# closure on the class path after them (not in spark.jars). 4: the jobs build their small
# tables in the JVM (common/frames.py) and read commit metrics from the log, other classes.
TRAINING_VERSION = 4
# Fixed in the past: the synthetic source serves every day and no build depends on today.
TRAINING_DAYS = (date(2026, 1, 5), date(2026, 1, 6))
TRAINING_SYMBOLS = "AAPL,MSFT"
# Settings of the build's environment the training passes on; nothing else leaks in (a
# user's LAKE_ROOT, S3 endpoint or DSN must not point the training at a real lake).
PASSED_SETTINGS = ("MEDALLION_JARS_DIR",)


class CdsError(RuntimeError):
    """The archive could not be built; the message says why."""


def java_executable(env: Mapping[str, str] | None = None) -> str:
    """The java Spark's launcher runs: $JAVA_HOME/bin/java, else java on PATH."""
    env = os.environ if env is None else env
    java_home = env.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).is_file():
        raise CdsError("no java found (JAVA_HOME or PATH): Spark needs Java 17")
    return str(Path(java).resolve())


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    # os.listdir keeps the directory's own order: the order Java expands pyspark's
    # `jars/*` class path in, which the archive records.
    return [
        (name, (folder / name).stat().st_size, (folder / name).stat().st_mtime_ns)
        for name in os.listdir(folder)
        if (folder / name).is_file()
    ]


def archive_key(env: Mapping[str, str] | None = None) -> str:
    """What the archive is valid for, hashed: the JVM (its path and version), pyspark's
    jars (the driver's class path: folder, order, sizes, modification times), the jar
    closure of spark.jars, the JVM options and the training run's version."""
    import pyspark

    from medallion.common.config import load_config
    from medallion.common.spark import JVM_OPTIONS

    env = os.environ if env is None else env
    java = java_executable(env)
    version = subprocess.run(  # noqa: S603 - the resolved java binary, fixed argv
        [java, "-version"], capture_output=True, text=True, timeout=60, check=True
    ).stderr
    pyspark_jars = Path(pyspark.__file__).parent / "jars"
    jars_dir = Path(load_config({k: env[k] for k in PASSED_SETTINGS if k in env}).jars_dir)
    facts = {
        "training": TRAINING_VERSION,
        "java": [java, version],
        "jvm_options": JVM_OPTIONS,
        "pyspark": [pyspark.__version__, str(pyspark_jars), _listing(pyspark_jars)],
        "jars": [str(jars_dir), sorted(_listing(jars_dir)) if jars_dir.is_dir() else []],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def archive_path(folder: Path, env: Mapping[str, str] | None = None) -> Path:
    return folder.absolute() / f"driver-{archive_key(env)}.jsa"


def build(archive: Path, env: Mapping[str, str] | None = None) -> int:
    """Write the archive to ``archive`` (replacing it); returns its size in bytes.

    The training runs in a child process (``train``), so its JVM starts with the options
    every stage's driver gets, whatever this process has started; its output goes to a
    log that a failure shows the end of."""
    env = os.environ if env is None else env
    archive = archive.absolute()
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="medallion-cds-") as work:
            log = Path(work) / "training.log"
            with log.open("w") as out:
                code = subprocess.call(  # noqa: S603 - this interpreter, fixed argv
                    [sys.executable, "-m", "medallion.common.cds", "train", str(partial), work],
                    env=dict(env),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=1800,
                )
            if code != 0:
                raise CdsError(
                    f"the training run failed (exit {code}); its output ends:\n"
                    + log.read_text(errors="replace")[-3000:]
                )
        if not partial.is_file() or partial.stat().st_size == 0:
            raise CdsError(
                f"the JVM wrote no archive at {partial} (-XX:ArchiveClassesAtExit needs the "
                "JVM's own default CDS archive, lib/server/classes.jsa)"
            )
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)
    size = archive.stat().st_size
    logger.info("class-data-sharing archive %s: %.0f MiB", archive, size / 2**20)
    return size


def train(partial: Path, work: Path, env: Mapping[str, str] | None = None) -> None:
    """The stages' code on a tiny lake in ``work``, then the driver JVM's exit, which
    writes the archive to ``partial``: this returns only once that JVM has ended. Run it
    in a process that has not started Spark (``build`` does)."""
    from pyspark import SparkContext

    from medallion.aggregator.job import run_aggregate
    from medallion.aggregator.metrics import GOLD_COLUMNS
    from medallion.common.config import load_config
    from medallion.common.delta import latest_version
    from medallion.common.intervals import Interval
    from medallion.common.spark import build_spark_session
    from medallion.ingestor.job import run_ingest
    from medallion.publisher.job import changed_rows, to_python_rows
    from medallion.transformer.job import run_transform

    if SparkContext._gateway is not None:  # noqa: SLF001 - pyspark's one JVM per process
        raise CdsError("Spark's JVM already runs in this process: train in a fresh one")
    env = os.environ if env is None else env
    config = load_config(
        {
            **{k: env[k] for k in PASSED_SETTINGS if k in env},
            "LAKE_ROOT": str(work / "lake"),
            "MARKET_SOURCE": "synthetic",
            "WATCHLIST": TRAINING_SYMBOLS,
            "SPARK_CDS_ARCHIVE": str(partial),
        }
    )
    spark = build_spark_session(config, app_name="medallion-cds-training")
    gateway = SparkContext._gateway  # noqa: SLF001 - the JVM's process, to wait for its exit
    assert gateway is not None
    try:
        for day in TRAINING_DAYS:
            interval = Interval(day, day + timedelta(days=1))
            run_ingest(config, interval)
            run_transform(config, interval, spark=spark)
            run_aggregate(config, interval, spark=spark)
        gold = config.lake_path("gold", "daily")
        version = latest_version(spark, gold)
        for since in (version - 1, None):  # publish: the change feed, then a full read
            frame, _ = changed_rows(spark, gold, version, since)
            if not list(to_python_rows(frame, list(GOLD_COLUMNS))):
                raise CdsError("the training run published no gold rows")
        _touch_s3a(spark)
    finally:
        spark.stop()
        gateway.shutdown()
        # Spark's gateway exits when its stdin closes; the JVM writes the archive then.
        gateway.proc.stdin.close()
        code = gateway.proc.wait(timeout=600)
        SparkContext._gateway = SparkContext._jvm = None  # noqa: SLF001
    if code != 0:
        raise CdsError(f"the training JVM exited with code {code}")


def _touch_s3a(spark: SparkSession) -> None:
    """Set up an S3A file system (the AWS SDK's client and Hadoop's S3A classes) the way
    the pods' sessions do, against a closed local port: set-up sends no request."""
    jvm = spark._jvm  # noqa: SLF001
    conf = jvm.org.apache.hadoop.conf.Configuration(spark._jsc.hadoopConfiguration())  # noqa: SLF001
    for key, value in {
        "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "fs.s3a.endpoint": "http://127.0.0.1:9",
        "fs.s3a.endpoint.region": "us-east-1",
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": "false",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3a.access.key": "cds-training",
        "fs.s3a.secret.key": "cds-training",
        "fs.s3a.impl.disable.cache": "true",
    }.items():
        conf.set(key, value)
    fs = jvm.org.apache.hadoop.fs.Path("s3a://cds-training/").getFileSystem(conf)
    fs.close()


def current(folder: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """This clone's archive in ``folder`` if it exists and matches the JVM and jars now."""
    path = archive_path(folder, env)
    return path if path.is_file() else None


def ensure(folder: Path, env: Mapping[str, str] | None = None) -> Path:
    """Build ``folder``'s archive for this JVM and these jars unless it is there; remove
    archives of other keys (a JVM or jar change leaves them unusable)."""
    path = archive_path(folder, env)
    if not path.is_file():
        logger.info("building the driver JVM's class-data-sharing archive %s", path)
        build(path, env)
    for stale in folder.absolute().glob("driver-*.jsa"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m medallion.common.cds",
        description="Build the driver JVM's class-data-sharing archive (SPARK_CDS_ARCHIVE) "
        "from a training run of the stages on a tiny synthetic lake. The archive is valid "
        "only for this JVM and these jars.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{build,ensure,path}")
    sub.add_parser("build", help="write the archive to PATH (replacing it)").add_argument(
        "path", type=Path
    )
    sub.add_parser(
        "ensure", help="build DIR/driver-<key>.jsa unless it is there; print its path"
    ).add_argument("dir", type=Path)
    sub.add_parser(
        "path", help="print DIR/driver-<key>.jsa if it is there, else exit 1"
    ).add_argument("dir", type=Path)
    training = sub.add_parser("train")  # build's child process: `build` is the command to use
    training.add_argument("partial", type=Path)
    training.add_argument("work", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logger.setLevel(logging.INFO)
    try:
        if args.command == "build":
            build(args.path)
            print(args.path.absolute())
        elif args.command == "train":
            train(args.partial, args.work)
        elif args.command == "ensure":
            print(ensure(args.dir))
        else:
            found = current(args.dir)
            if found is None:
                return 1
            print(found)
    except CdsError as exc:
        print(f"cds: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
