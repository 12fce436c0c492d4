"""Where the test servers keep their data, and the early, explained refusal when MinIO
could not write there (tools/servers.py)."""

from __future__ import annotations

import subprocess

import pytest
import servers  # tools/servers.py (put on sys.path by tests/conftest.py)


def _df(path) -> tuple[int, int]:
    """(used + available, available) in bytes as df reports them: an oracle apart from statvfs
    arithmetic. used + available is the size without root's reserve, which is MinIO's size."""
    out = subprocess.run(
        ["df", "-B1", "--output=used,avail", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    used, avail = int(out[-2]), int(out[-1])
    return used + avail, avail


def test_headroom_is_free_space_less_one_percent_of_the_size_minio_counts(tmp_path):
    size, free = _df(tmp_path)
    headroom, got_free, got_size = servers.minio_headroom(tmp_path)
    slack = 64 * 2**20  # other processes write between the two readings
    assert abs(got_size - size) <= slack
    assert abs(got_free - free) <= slack
    assert abs(headroom - (free - size // 100)) <= slack


def test_scratch_root_follows_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDALLION_SCRATCH_DIR", str(tmp_path / "roomy"))
    made = servers.scratch_dir("medallion-x-")
    assert made.parent == tmp_path / "roomy" and made.is_dir()


def test_scratch_root_leaves_minio_the_most_room(monkeypatch):
    monkeypatch.delenv("MEDALLION_SCRATCH_DIR", raising=False)
    root = servers.scratch_root()
    others = [p for p in (servers.RAM_SCRATCH,) if p.is_dir() and p != root]
    if root != servers.RAM_SCRATCH:
        for other in others:
            assert servers.minio_headroom(root)[0] >= servers.minio_headroom(other)[0]
    else:
        assert servers.minio_headroom(root)[0] >= servers.RAM_SCRATCH_PREFERRED


def test_minio_start_refuses_a_drive_past_its_fill_line(tmp_path, monkeypatch):
    size, _ = _df(tmp_path)
    monkeypatch.setattr(servers, "MINIO_MIN_HEADROOM", size)  # no drive has its size free
    try:
        started = servers.MinioServer.start(tmp_path / "minio")
    except servers.ServerUnavailable as refused:
        message = str(refused)
    else:
        started.stop()
        pytest.fail("MinIO was started on a drive past its fill line")
    assert str(tmp_path / "minio") in message
    assert "GiB free of" in message and "MEDALLION_SCRATCH_DIR" in message
