"""SPARK_CDS_ARCHIVE: the first run writes a class-data-sharing archive of the driver JVM,
the next run maps it. Two real driver JVMs started the way the stages start them
(build_spark_session), reading a real Delta table.

The oracle is the JVM itself: the archive is in the second JVM's memory map
(/proc/<pid>/maps), and Delta's classes (loaded from spark.jars by Spark's own class
loader) are in the archive: their names are in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
spark.stop()
print(json.dumps({"rows": rows, "maps": maps}))
"""


def run_probe(lake: Path, archive: Path) -> dict:
    env = {**os.environ, "SPARK_CDS_ARCHIVE": str(archive), "SPARK_MASTER": "local[1]"}
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", PROBE, str(lake)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_first_run_writes_the_archive_and_the_next_one_maps_it(tmp_path):
    archive = tmp_path / "spark-driver.jsa"

    first = run_probe(tmp_path / "lake", archive)
    assert first["rows"] == 10
    assert archive.is_file(), "the first run should have written the archive when it ended"
    assert str(archive) not in first["maps"]
    content = archive.read_bytes()
    assert b"org/apache/spark/sql/delta/DeltaLog" in content, "Delta's classes were not archived"

    second = run_probe(tmp_path / "lake2", archive)
    assert second["rows"] == 10
    assert str(archive) in second["maps"], "the second driver JVM did not map the archive"
