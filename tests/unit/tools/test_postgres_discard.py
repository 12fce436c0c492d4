"""A throwaway PostgreSQL leaves nothing behind (tools/servers.py).

As root, a cluster whose data_dir the `postgres` user cannot reach lives under the system's
temporary folder, named after data_dir. CI once started the bench's server on a pytest folder
whose path an earlier run had used, found that run's cluster, and failed on
'database "large_0" already exists'. `discard` is what prevents that.
"""

from __future__ import annotations

import psycopg
import servers  # tools/servers.py (put on sys.path by tests/conftest.py)


def _databases(pg: servers.PostgresServer) -> set[str]:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def test_a_discarded_cluster_is_gone_and_the_same_folder_starts_fresh(tmp_path):
    data_dir = tmp_path / "postgres"  # pytest's folders are root-only when run as root
    pg = servers.PostgresServer.start(data_dir)
    try:
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "left_behind"')
        home = pg.pgdata.parent
    finally:
        pg.discard()
    assert not home.exists(), f"the cluster's files outlived discard: {home}"
    assert not (data_dir / "cluster").is_symlink()

    again = servers.PostgresServer.start(data_dir)
    try:
        assert "left_behind" not in _databases(again)
    finally:
        again.discard()
