"""tools/run-tests.sh points the test JVMs at this clone's class-data-sharing archive only
when it exists: with the variable set and no file, every test JVM would write the same
path when it ends (and one mapping a half-written archive crashes). The lanes' pytest is
replaced by a script that records what each lane was given."""

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
