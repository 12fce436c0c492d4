"""Publisher SQL: DDL files shipped in the package, the upsert statement's shape."""

from __future__ import annotations

import re

from medallion.aggregator.metrics import GOLD_COLUMNS
from medallion.publisher.cli import build_parser
from medallion.publisher.postgres import ddl_statements, upsert_sql


def test_ddl_files_are_idempotent_and_define_every_gold_column():
    files = ddl_statements()
    assert [name for name, _ in files] == [
        "001_gold_daily.sql", "002_publish_state.sql", "003_gold_daily_adjusted.sql"]
    gold_sql = files[0][1]
    assert "CREATE TABLE IF NOT EXISTS public.gold_daily" in gold_sql
    assert "PRIMARY KEY (symbol, trade_date)" in gold_sql
    for column in GOLD_COLUMNS:
        assert f"\n    {column} " in gold_sql, column
    # the migration adds every value column of gold to a table created before it
    migration = files[2][1]
    for column in GOLD_COLUMNS[2:]:
        assert f"ADD COLUMN IF NOT EXISTS {column} " in migration, column
    for name, sql in files:
        assert not re.search(r"\b(DROP\s+TABLE|TRUNCATE)\s", sql, re.IGNORECASE), name
        if name != "003_gold_daily_adjusted.sql":
            assert not re.search(r"\bDROP\s", sql, re.IGNORECASE), name
    # columns are only dropped behind the guard that recognises the old table
    guard = migration.index("column_name = 'adj_close'")
    assert all(m.start() > guard for m in re.finditer(r"DROP COLUMN", migration))


def test_upsert_updates_only_changed_rows():
    sql = upsert_sql(["symbol", "trade_date", "close", "vwap"])
    assert sql.startswith("INSERT INTO public.gold_daily AS t (symbol, trade_date, close, vwap)")
    assert "ON CONFLICT (symbol, trade_date) DO UPDATE SET close = EXCLUDED.close" in sql
    assert sql.endswith(
        "WHERE t.close IS DISTINCT FROM EXCLUDED.close OR t.vwap IS DISTINCT FROM EXCLUDED.vwap"
    )
    assert "symbol = EXCLUDED.symbol" not in sql


def test_cli_help_names_the_dsn_and_takes_an_interval():
    parser = build_parser()
    text = parser.format_help()
    assert "ANALYTICS_DSN" in text and "--date" in text and "--full-refresh" in text
    args = parser.parse_args(["--date", "2024-01-02"])
    assert str(args.date) == "2024-01-02"
