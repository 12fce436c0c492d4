"""PostgreSQL side of the publish: repo-owned DDL, staging COPY and one-transaction upsert.

Readers never see an empty or half-loaded table: rows are COPYed into a temporary
staging table and merged with ``INSERT ... ON CONFLICT DO UPDATE`` in the same
transaction that records the published Delta version; nothing is truncated or
dropped. A row is only rewritten when a value differs, so a re-publish is a no-op.
A transaction-scoped advisory lock keeps two publishers from interleaving, and the
publish state fences them: inside the locked transaction a publisher whose gold
version is older than the one PostgreSQL already holds is refused (:class:`StalePublish`),
so a slow or resumed publisher can never roll newer rows back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

from medallion.common import faults
from medallion.common.lease import LeaseError

logger = logging.getLogger(__name__)

TABLE = "public.gold_daily"
STATE_TABLE = "public.medallion_publish_state"
KEY = ("symbol", "trade_date")
LOCK_KEY = 0x6D656461  # 'meda': pg_advisory_xact_lock id of the gold publisher


def ddl_statements() -> list[tuple[str, str]]:
    """(file name, SQL) of publisher/sql/*.sql in name order."""
    folder = resources.files("medallion.publisher") / "sql"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name, f.read_text(encoding="utf-8")) for f in files]


def apply_ddl(conn: Any) -> list[str]:
    """Apply every SQL file (each is idempotent: CREATE ... IF NOT EXISTS)."""
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        for name, sql in ddl_statements():
            conn.execute(sql)
            applied.append(name)
    return applied


def read_state(conn: Any, table: str = "gold/daily") -> tuple[str, int] | None:
    row = conn.execute(
        f"SELECT delta_table_id, delta_version FROM {STATE_TABLE} WHERE table_name = %s",
        (table,),
    ).fetchone()
    return (row[0], int(row[1])) if row else None


class StalePublish(LeaseError):
    """PostgreSQL already holds a newer gold version than this publisher read (exit 5)."""


def check_not_stale(conn: Any, table: str, state: tuple[str, int]) -> None:
    """Inside the publish transaction, after the lock: refuse to go backwards."""
    current = read_state(conn, table)
    if current is not None and current[0] == state[0] and current[1] > state[1]:
        raise StalePublish(
            f"PostgreSQL already holds {table} version {current[1]}, newer than the version "
            f"{state[1]} this publisher read: another publisher ran meanwhile; nothing written"
        )


def upsert_sql(columns: Sequence[str]) -> str:
    cols = ", ".join(columns)
    values = [c for c in columns if c not in KEY]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
    differs = " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in values)
    return (
        f"INSERT INTO {TABLE} AS t ({cols}) SELECT {cols} FROM gold_daily_stage "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {sets} WHERE {differs}"
    )


def publish(
    conn: Any,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    state: tuple[str, int],
    table: str = "gold/daily",
) -> tuple[int, int]:
    """Stage ``rows`` and upsert them plus the new state in ONE transaction.

    Returns (rows staged, rows inserted or changed).
    """
    staged = 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        check_not_stale(conn, table, state)
        conn.execute(
            f"CREATE TEMP TABLE gold_daily_stage (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with conn.cursor() as cur:
            with cur.copy(f"COPY gold_daily_stage ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    staged += 1
                    faults.point("publish.copy")
            cur.execute(upsert_sql(columns))
            changed = cur.rowcount
        conn.execute(
            f"INSERT INTO {STATE_TABLE} (table_name, delta_table_id, delta_version, published_at) "
            "VALUES (%s, %s, %s, now()) ON CONFLICT (table_name) DO UPDATE SET "
            "delta_table_id = EXCLUDED.delta_table_id, delta_version = EXCLUDED.delta_version, "
            "published_at = EXCLUDED.published_at",
            (table, state[0], state[1]),
        )
        faults.point("publish.before_commit")
    return staged, max(changed, 0)
