"""Which class-data-sharing archive a clone has (medallion.common.cds): its key follows the
JVM and the jars, a stale one is replaced, and `path` names one only when it exists.

Without a JVM: the build itself (a real training run, a real second JVM mapping the
result, a failed build leaving nothing) is tests/integration/jvm/test_cds_archive.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medallion.common import cds


@pytest.fixture
def jars(tmp_path) -> dict[str, str]:
    folder = tmp_path / "jars"
    folder.mkdir()
    (folder / "delta-spark_2.13-9.9.9.jar").write_bytes(b"x" * 10)
    return {**os.environ, "MEDALLION_JARS_DIR": str(folder)}


def test_the_key_follows_the_jar_closure_and_the_jvm_options(jars, monkeypatch):
    folder = Path(jars["MEDALLION_JARS_DIR"])
    first = cds.archive_key(jars)
    assert cds.archive_key(jars) == first  # nothing changed: the same archive

    (folder / "delta-spark_2.13-9.9.9.jar").write_bytes(b"x" * 11)
    resized = cds.archive_key(jars)
    (folder / "hadoop-aws-9.9.9.jar").write_bytes(b"y")
    added = cds.archive_key(jars)
    monkeypatch.setattr("medallion.common.spark.JVM_OPTIONS", "-XX:+UseSerialGC")
    options = cds.archive_key(jars)
    assert len({first, resized, added, options}) == 4


def test_the_key_follows_the_java_binary(jars, tmp_path):
    other = tmp_path / "jdk"
    (other / "bin").mkdir(parents=True)
    java = Path(cds.java_executable(jars))
    (other / "bin" / "java").symlink_to(java.parent.parent / "bin" / "java")
    # same binary through another JAVA_HOME: resolved to the same file, the same key
    assert cds.archive_key({**jars, "JAVA_HOME": str(other)}) == cds.archive_key(jars)
    with pytest.raises(cds.CdsError, match="no java"):
        cds.archive_key({**jars, "JAVA_HOME": str(tmp_path / "nowhere")})


def test_ensure_builds_a_missing_archive_and_removes_stale_ones(jars, tmp_path, monkeypatch):
    folder = tmp_path / "cds"
    folder.mkdir()
    stale = folder / "driver-0000000000000000.jsa"
    stale.write_bytes(b"an archive of another JVM or jar set")
    built: list[Path] = []

    def fake_build(path: Path, env=None) -> int:
        built.append(path)
        path.write_bytes(b"archive")
        return 7

    monkeypatch.setattr(cds, "build", fake_build)
    path = cds.ensure(folder, jars)
    assert built == [path] and path == cds.archive_path(folder, jars)
    assert not stale.exists()

    # current: not built again
    assert cds.ensure(folder, jars) == path and built == [path]

    # a jar changes: a new key, built once, and the old archive removed
    (Path(jars["MEDALLION_JARS_DIR"]) / "delta-spark_2.13-9.9.9.jar").write_bytes(b"z")
    newer = cds.ensure(folder, jars)
    assert newer != path and built == [path, newer]
    assert sorted(folder.iterdir()) == [newer]


def test_path_names_the_archive_only_when_it_exists(jars, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDALLION_JARS_DIR", jars["MEDALLION_JARS_DIR"])
    folder = tmp_path / "cds"
    folder.mkdir()
    assert cds.main(["path", str(folder)]) == 1
    assert capsys.readouterr().out == ""

    expected = cds.archive_path(folder)
    expected.write_bytes(b"archive")
    assert cds.main(["path", str(folder)]) == 0
    assert capsys.readouterr().out.strip() == str(expected)
