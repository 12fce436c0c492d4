"""The DuckDB comparator keeps the silver rules on messy bronze, like the Spark job.

A small bronze with one case per rule (non-numeric, boolean and NaN prices, a float and a
text timestamp, repeated timestamps, an overlapping later fetch, error and unparseable
bodies, an offset-only and an unknown zone, arrays of different lengths) goes through
Spark's transformer and through bench/duckdb_baseline.py. The expected count per rule is
worked out by hand from the payloads below, not taken from either implementation; both
must match it, and they must accept the same rows with the same values.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from bench.duckdb_baseline import run_duckdb
from medallion.common.storage import LocalStore
from medallion.transformer import transform as T
from medallion.transformer.job import read_bronze_files, valid_zone_ids
from medallion.transformer.testing import write_bronze, yahoo_body, yahoo_error_body

WATCH = ("AAPL", "7203.T", "PETR4.SA")
DAY = date(2024, 1, 2)
T0 = 1704205800  # 2024-01-02 14:30 UTC, 09:30 in New York
MIN = 60


def stamps(first: int, n: int) -> list[int]:
    return [T0 + (first + i) * MIN for i in range(n)]


def fine(n: int) -> tuple[list, ...]:
    """open, high, low, close, volume of ``n`` bars that pass every rule."""
    return [10.0] * n, [11.0] * n, [9.0] * n, [10.5] * n, [100] * n


def messy_bronze(store: LocalStore) -> None:
    def put(body, symbol="AAPL", at=datetime(2024, 1, 2, 21, 0, tzinfo=UTC), **kw):
        write_bronze(
            store,
            body,
            symbol=symbol,
            ingest_date=DAY,
            interval="1m",
            fetched_at=at,
            run_id=f"r{at:%H%M}",
            **kw,
        )

    # 8 bars, one value rule each after three good ones:
    # good, good, good (quoted numbers), non-numeric close, NaN open -> null_price x2;
    # zero low -> non_positive_price; volume 2.5 -> null_volume; volume -1 -> negative_volume
    o, h, lo, c, v = fine(8)
    h[2], c[2], v[2] = "11.0", "10.5", "123.0"
    c[3] = "abc"
    o[4] = float("nan")  # json.dumps writes a bare NaN, as Jackson and yyjson accept
    lo[5] = 0
    v[6] = 2.5
    v[7] = -1
    put(yahoo_body("AAPL", stamps(0, 8), o, h, lo, c, v))
    # a boolean price: null_price (Spark reads it as the text "true"); one good bar;
    # high below low -> high_below_low_open_close; low above close -> low_above_open_close
    o, h, lo, c, v = fine(4)
    o[0] = True
    h[2] = 8.0
    lo[3] = 10.6
    put(
        yahoo_body("AAPL", stamps(10, 4), o, h, lo, c, v),
        at=datetime(2024, 1, 2, 21, 1, tzinfo=UTC),
    )
    # timestamps: "x" and a float -> null_timestamp x2; a quoted epoch is fine; the 5th
    # repeats the 4th -> the earlier one is duplicate_timestamp, the last one counts
    t = stamps(20, 3)
    put(
        yahoo_body("AAPL", ["x", t[0] + 0.5, str(t[1]), t[2], t[2]], *fine(5)),
        at=datetime(2024, 1, 2, 21, 2, tzinfo=UTC),
    )
    # a later fetch of the first payload's bars 1-3 (2 accepted there, 1 null_price): all
    # accepted, the newest fetch wins the 2 shared keys (silver keeps one row per key)
    put(yahoo_body("AAPL", stamps(1, 3), *fine(3)), at=datetime(2024, 1, 2, 22, 0, tzinfo=UTC))
    # error bodies: flagged by the ingestor, and one it did not flag -> error_payload x2
    put(yahoo_error_body(), error="chart_error", error_message="Not Found")
    put(yahoo_error_body(), at=datetime(2024, 1, 2, 21, 3, tzinfo=UTC))
    # not a chart: truncated JSON and an HTML page -> unparseable_payload x2
    put(b'{"chart": {"result": [{"meta"', at=datetime(2024, 1, 2, 21, 4, tzinfo=UTC))
    put(b"<html>down</html>", at=datetime(2024, 1, 2, 21, 5, tzinfo=UTC))
    # zones: only a fixed offset -> offset_only_timezone x2; an unknown name and no
    # offset -> unknown_timezone x1; Tokyo is fine x2
    put(
        yahoo_body("PETR4.SA", stamps(0, 2), *fine(2), tz=None, gmtoffset=-10800), symbol="PETR4.SA"
    )
    put(
        yahoo_body("7203.T", stamps(0, 1), *fine(1), tz="Mars/Base", gmtoffset=None),
        symbol="7203.T",
    )
    put(
        yahoo_body("7203.T", stamps(5, 2), *fine(2), tz="Asia/Tokyo", gmtoffset=32400),
        symbol="7203.T",
        at=datetime(2024, 1, 2, 21, 6, tzinfo=UTC),
    )
    # one close missing: every bar of the payload -> array_length_mismatch x3
    o, h, lo, c, v = fine(3)
    put(
        yahoo_body("7203.T", stamps(30, 3), o, h, lo, c[:2], v, tz="Asia/Tokyo"),
        symbol="7203.T",
        at=datetime(2024, 1, 2, 21, 7, tzinfo=UTC),
    )
    # a symbol outside the watchlist -> unknown_symbol x2
    put(yahoo_body("TSLA", stamps(0, 2), *fine(2)), symbol="TSLA")


EXPECTED_RULES = {
    "null_price": 3,
    "non_positive_price": 1,
    "null_volume": 1,
    "negative_volume": 1,
    "high_below_low_open_close": 1,
    "low_above_open_close": 1,
    "null_timestamp": 2,
    "duplicate_timestamp": 1,
    "error_payload": 2,
    "unparseable_payload": 2,
    "offset_only_timezone": 2,
    "unknown_timezone": 1,
    "array_length_mismatch": 3,
    "unknown_symbol": 2,
}
# accepted: 3 + 1 + 2 (the quoted epoch, the last repeat) + 3 (later fetch) + 2 (Tokyo)
EXPECTED_ACCEPTED = 11
EXPECTED_SILVER = EXPECTED_ACCEPTED - 2  # the two keys fetched twice
ROWS_IN = 8 + 4 + 5 + 3 + 2 + 2 + 2 + 1 + 2 + 3 + 2  # bars, and one row per bad payload

SILVER_COLUMNS = (
    "symbol",
    "ts",
    "trade_date",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "source_object",
)


def _spark(spark, paths: list[str]) -> tuple[dict[str, int], int, set[tuple]]:
    objects = T.bronze_objects(read_bronze_files(spark, paths))
    classified = T.classify(T.explode_bars(T.payloads(objects, valid_zone_ids(spark))), WATCH)
    classified.cache()
    by_rule = {
        r["rule"]: r["count"]
        for r in classified.where("rule IS NOT NULL").groupBy("rule").count().collect()
    }
    accepted = classified.where("rule IS NULL").count()
    silver = {tuple(r) for r in T.silver_rows(classified).select(*SILVER_COLUMNS).collect()}
    classified.unpersist()
    return by_rule, accepted, silver


def test_duckdb_floor_quarantines_like_spark(spark, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "lake")
    messy_bronze(store)
    paths = [store.uri(k) for k in store.list("bronze/")]
    spark_rules, spark_accepted, spark_silver = _spark(spark, paths)

    duck, con = run_duckdb(paths, list(WATCH), str(tmp_path / "floor.duckdb"))
    duck_silver = set(con.execute(f"SELECT {', '.join(SILVER_COLUMNS)} FROM prices").fetchall())
    con.close()

    assert spark_rules == EXPECTED_RULES
    assert spark_accepted == EXPECTED_ACCEPTED
    assert len(spark_silver) == EXPECTED_SILVER
    assert duck.by_rule == EXPECTED_RULES
    assert (duck.rows_in, duck.rows_out) == (ROWS_IN, EXPECTED_ACCEPTED)
    assert duck.silver_rows == EXPECTED_SILVER
    assert duck_silver == spark_silver


def test_duckdb_floor_refuses_corporate_actions(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "lake")
    body = yahoo_body("AAPL", stamps(0, 2), *fine(2))
    body["chart"]["result"][0]["events"] = {
        "splits": {str(T0): {"date": T0, "numerator": 4, "denominator": 1}}
    }
    write_bronze(store, json.dumps(body), symbol="AAPL", ingest_date=DAY, interval="1m")
    paths = [store.uri(k) for k in store.list("bronze/")]
    try:
        run_duckdb(paths, list(WATCH), str(tmp_path / "floor.duckdb"))
    except ValueError as e:
        assert "corporate actions" in str(e)
    else:
        raise AssertionError("a payload with a split was not refused")
