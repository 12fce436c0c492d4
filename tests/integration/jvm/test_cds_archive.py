"""The driver JVM's class-data-sharing archive (SPARK_CDS_ARCHIVE): the builder that
`make cds` and the image build run (medallion.common.cds) trains a real driver JVM on the
stages' code and writes the archive when that JVM ends; the next driver JVM, started the
way the stages start it (build_spark_session), reads a real Delta table and maps it.

The oracle is the JVM itself: the archive is in the second JVM's memory map
(/proc/<pid>/maps), and classes the stages load from spark.jars by Spark's own class
loader (Delta's, S3A's) are in the archive: their names are in it. A JVM that cannot use
the archive says "Unable to use shared archive" and starts without it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = """
import json, os, sys
from pathlib import Path
from medallion.common.config import load_config
from medallion.common.spark import build_spark_session

config = load_config({**os.environ, "LAKE_ROOT": sys.argv[1]})
spark = build_spark_session(config, "cds-probe")
table = config.lake_path("t")
spark.range(10).write.format("delta").mode("overwrite").save(table)
rows = spark.read.format("delta").load(table).count()
pid = int(spark._jvm.java.lang.ProcessHandle.current().pid())
maps = Path(f"/proc/{pid}/maps").read_text()
args = list(spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
spark.stop()
print(json.dumps({"rows": rows, "maps": maps, "jvm_args": [str(a) for a in args]}))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the archive tools/run-tests.sh may have set."""
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CDS_ARCHIVE"}
    return {**env, **extra}


def run_probe(lake: Path, archive: Path, **extra: str) -> tuple[dict, str]:
    env = clean_env(SPARK_CDS_ARCHIVE=str(archive), SPARK_MASTER="local[1]", **extra)
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", PROBE, str(lake)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout + proc.stderr


def build(archive: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "medallion.common.cds", "build", str(archive)],
        env=clean_env(**extra),
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_the_builder_writes_an_archive_the_next_driver_jvm_maps(tmp_path):
    archive = tmp_path / "cds" / "driver.jsa"

    built = build(archive)
    assert built.returncode == 0, built.stderr[-3000:]
    assert built.stdout.strip() == str(archive)
    assert sorted(p.name for p in archive.parent.iterdir()) == ["driver.jsa"]  # nothing partial
    content = archive.read_bytes()
    assert b"org/apache/spark/sql/delta/DeltaLog" in content, "Delta's classes were not archived"
    assert b"org/apache/hadoop/fs/s3a/S3AFileSystem" in content, "S3A's classes were not archived"

    probe, output = run_probe(tmp_path / "lake", archive)
    assert probe["rows"] == 10
    assert str(archive) in probe["maps"], "the next driver JVM did not map the archive"
    assert "Unable to use shared archive" not in output
    # the driver's settings (driver_jvm_options: no interval, a long run) reach the JVM
    assert "-XX:+UseParallelGC" in probe["jvm_args"], probe["jvm_args"]
    assert not any("TieredStopAtLevel" in a for a in probe["jvm_args"]), probe["jvm_args"]
    assert "CodeCache is full" not in output

    # The image's archive on a node whose file system lists Spark's jars in another order
    # (Java expands the launcher's `jars/*` in directory order): still mapped.
    spark_home = other_order_spark_home()
    try:
        probe, output = run_probe(tmp_path / "lake2", archive, SPARK_HOME=str(spark_home))
    finally:
        shutil.rmtree(spark_home)
    assert probe["rows"] == 10
    assert str(archive) in probe["maps"], "jars listed in another order: archive not mapped"
    assert "Unable to use shared archive" not in output


def other_order_spark_home() -> Path:
    """A SPARK_HOME whose jars folder lists pyspark's jars (symlinks to the same files) in
    another order than pyspark's own folder: on tmpfs, created in a shuffled order."""
    import pyspark

    home = Path(pyspark.__file__).parent
    fake = Path(tempfile.mkdtemp(prefix="medallion-cds-spark-home-", dir="/dev/shm"))
    (fake / "bin").symlink_to(home / "bin")
    (fake / "jars").mkdir()
    names = os.listdir(home / "jars")
    random.Random(13).shuffle(names)
    for name in names:
        (fake / "jars" / name).symlink_to(home / "jars" / name)
    assert os.listdir(fake / "jars") != os.listdir(home / "jars"), "the same order: no test"
    return fake


def test_a_failed_build_leaves_the_previous_archive_and_nothing_partial(tmp_path):
    """Spark starts, the training fails (no Delta classes behind the jar's name), the JVM
    still writes its archive when it ends: that archive must never reach the path."""
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "delta-spark_2.13-0.0.0.jar").write_bytes(b"")
    folder = tmp_path / "cds"
    folder.mkdir()
    archive = folder / "driver.jsa"
    archive.write_bytes(b"the archive of an earlier build")

    failed = build(archive, MEDALLION_JARS_DIR=str(jars))
    assert failed.returncode == 1
    assert "the training run failed" in failed.stderr
    assert "Traceback" in failed.stderr, "the training's own error is shown"
    assert archive.read_bytes() == b"the archive of an earlier build"
    assert sorted(p.name for p in folder.iterdir()) == ["driver.jsa"]
