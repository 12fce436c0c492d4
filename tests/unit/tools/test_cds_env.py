"""tools/run-tests.sh and the Makefile's recipes (make run, make test-*) point the Spark
JVMs at this clone's class-data-sharing archive only when it exists: with the variable
set and no file, every JVM would write the same path when it ends (and one mapping a
half-written archive crashes). The lanes' pytest is replaced by a script that records
what each lane was given; the Makefile's macro runs in a recipe of its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from medallion.common import cds

REPO_ROOT = Path(__file__).resolve().parents[3]


def lanes_see(tmp_path: Path, cds_dir: Path, **extra: str) -> list[str]:
    seen = tmp_path / "seen"
    seen.unlink(missing_ok=True)
    fake = tmp_path / "pytest"
    fake.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "${SPARK_CDS_ARCHIVE-unset}" >> "$CDS_SEEN"\n'
        'echo "============ 1 passed in 0.01s ============"\n'
    )
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CDS_ARCHIVE"}
    env.update(PYTEST=str(fake), CDS_DIR=str(cds_dir), CDS_SEEN=str(seen), **extra)
    run = subprocess.run(
        [str(REPO_ROOT / "tools/run-tests.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.rstrip().endswith("3 passed, 0 failed")
    return seen.read_text().splitlines()


def test_the_lanes_get_the_archive_only_when_it_exists(tmp_path):
    folder = tmp_path / "cds"
    folder.mkdir()
    assert lanes_see(tmp_path, folder) == ["unset"] * 3

    # the name run-tests.sh looks for: the key of this JVM and these jars
    archive = cds.archive_path(folder)
    archive.write_bytes(b"archive")
    assert lanes_see(tmp_path, folder) == [str(archive)] * 3

    # an archive of another key (another JVM or jar set) is not used
    archive.rename(folder / "driver-0000000000000000.jsa")
    assert lanes_see(tmp_path, folder) == ["unset"] * 3


def test_an_archive_set_by_the_caller_is_kept(tmp_path):
    own = str(tmp_path / "mine.jsa")
    assert lanes_see(tmp_path, tmp_path, SPARK_CDS_ARCHIVE=own) == [own] * 3


def make_sees(cds_dir: Path, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CDS_ARCHIVE"}
    recipe = 'show-cds: ; @$(USE_CDS); echo "$${SPARK_CDS_ARCHIVE-unset}"'
    run = subprocess.run(
        ["make", "-s", f"CDS_DIR={cds_dir}", "--eval", recipe, "show-cds"],
        cwd=REPO_ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.strip()


def test_make_recipes_get_the_archive_only_when_it_exists(tmp_path):
    folder = tmp_path / "cds"
    folder.mkdir()
    assert make_sees(folder) == "unset"
    archive = cds.archive_path(folder)
    archive.write_bytes(b"archive")
    assert make_sees(folder) == str(archive)
    own = str(tmp_path / "mine.jsa")
    assert make_sees(folder, SPARK_CDS_ARCHIVE=own) == own

    # the recipes that start Spark use it
    for target in ("run", "test-unit", "test-integration", "test-dags"):
        dry = subprocess.run(
            ["make", "-n", target],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "medallion.common.cds path" in dry.stdout, f"make {target} does not use the archive"
