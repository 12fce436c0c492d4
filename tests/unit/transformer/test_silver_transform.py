"""Silver transformations on small inline payloads, exact expected values."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from medallion.transformer import transform as T
from medallion.transformer.job import ConservationError, check_conservation
from medallion.transformer.testing import yahoo_body, yahoo_error_body

ZONES = frozenset({"America/New_York", "Asia/Tokyo", "America/Sao_Paulo", "US/Eastern"})
WATCH = ("AAPL", "7203.T", "PETR4.SA", "IBM")
OBJ_SCHEMA = (
    "object_key string, source string, symbol string, interval string, ingest_date date, "
    "ingest_run string, ingested_at timestamp, meta_error string, meta_error_message string, "
    "body string"
)


def ts(text: str) -> datetime:
    """A UTC instant as PySpark returns it for TIMESTAMP (naive, session zone = UTC)."""
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


def objects(spark, *items):
    rows = []
    for i, item in enumerate(items):
        body = item["body"]
        rows.append(
            (
                item.get("key", f"o{i}"),
                item.get("source", "yahoo"),
                item.get("symbol", "AAPL"),
                "1d",
                date(2024, 1, 2),
                "r1",
                item.get("at", datetime(2024, 1, 2, 0, 0)),
                item.get("error"),
                None,
                body if isinstance(body, str) else json.dumps(body),
            )
        )
    return spark.createDataFrame(rows, OBJ_SCHEMA)


def classified(spark, *items):
    return T.classify(T.explode_bars(T.payloads(objects(spark, *items), ZONES)), WATCH)


def test_bronze_objects_pairs_body_and_sidecar(spark):
    key = "bronze/source=yahoo/symbol=AAPL/interval=1d/ingest_date=2024-01-02/r7-abc123.json"
    meta = {"source": "yahoo", "symbol": "aapl", "interval": "1d", "run_id": "r7",
            "fetched_at": "2024-01-02T21:05:00Z", "error": None}
    raw = spark.createDataFrame(
        [(f"file:///lake/{key}", "{}"),
         (f"s3a://b/{key[:-5]}.meta.json", json.dumps(meta)),
         ("file:///lake/bronze/_state/x.json", "{}")],
        "path string, value string",
    )
    got = T.bronze_objects(raw).select("object_key", "symbol", "ingest_date", "ingest_run",
                                       "ingested_at", "body")
    assertDataFrameEqual(
        got, [Row(object_key=key, symbol="AAPL", ingest_date=date(2024, 1, 2), ingest_run="r7",
                  ingested_at=ts("2024-01-02T21:05:00+00:00"), body="{}")]
    )


def test_explode_keeps_each_bars_own_prices(spark):
    body = yahoo_body("AAPL", [1704205800, 1704292200, 1704378600],
                      [10, 20, 30], [11, 21, 31], [9, 19, 29], [10.5, 20.5, 30.5],
                      [100, 200, 300], [10.4, 20.4, 30.4])
    got = classified(spark, {"body": body}).select(
        "bar_index", "ts", "trade_date", "open", "high", "low", "close", "adj_close", "volume",
        "rule")
    assertDataFrameEqual(
        got,
        [
            Row(bar_index=0, ts=ts("2024-01-02T14:30:00+00:00"), trade_date=date(2024, 1, 2),
                open=10.0, high=11.0, low=9.0, close=10.5, adj_close=10.4, volume=100, rule=None),
            Row(bar_index=1, ts=ts("2024-01-03T14:30:00+00:00"), trade_date=date(2024, 1, 3),
                open=20.0, high=21.0, low=19.0, close=20.5, adj_close=20.4, volume=200, rule=None),
            Row(bar_index=2, ts=ts("2024-01-04T14:30:00+00:00"), trade_date=date(2024, 1, 4),
                open=30.0, high=31.0, low=29.0, close=30.5, adj_close=30.4, volume=300, rule=None),
        ],
    )


def test_trade_date_is_the_exchanges_local_day(spark):
    tokyo_late = int(datetime(2024, 1, 4, 15, 30, tzinfo=UTC).timestamp())  # 00:30 JST Jan 5
    tokyo_0100 = int(datetime(2024, 1, 5, 1, 0, tzinfo=UTC).timestamp())  # 10:00 JST Jan 5
    sao_2330 = int(datetime(2024, 1, 5, 2, 30, tzinfo=UTC).timestamp())  # 23:30 BRT Jan 4
    tokyo = yahoo_body("7203.T", [tokyo_late, tokyo_0100], [1, 1], [1, 1], [1, 1], [1, 1],
                       [5, 5], tz="Asia/Tokyo", gmtoffset=32400)
    sao = yahoo_body("PETR4.SA", [sao_2330], [1], [1], [1], [1], [5],
                     tz="America/Sao_Paulo", gmtoffset=-10800)
    # zone name missing: the payload's fixed gmtoffset is refused (wrong across DST)
    offset_only = yahoo_body("PETR4.SA", [sao_2330 + 60], [1], [1], [1], [1], [5], tz=None,
                             gmtoffset=-10800)
    got = classified(
        spark,
        {"key": "t", "symbol": "7203.T", "body": tokyo},
        {"key": "s", "symbol": "PETR4.SA", "body": sao},
        {"key": "o", "symbol": "PETR4.SA", "body": offset_only},
    ).select("source_object", "bar_index", "trade_date", "exchange_tz", "rule")
    assertDataFrameEqual(
        got,
        [
            Row(source_object="t", bar_index=0, trade_date=date(2024, 1, 5),
                exchange_tz="Asia/Tokyo", rule=None),
            Row(source_object="t", bar_index=1, trade_date=date(2024, 1, 5),
                exchange_tz="Asia/Tokyo", rule=None),
            Row(source_object="s", bar_index=0, trade_date=date(2024, 1, 4),
                exchange_tz="America/Sao_Paulo", rule=None),
            Row(source_object="o", bar_index=0, trade_date=None, exchange_tz=None,
                rule="offset_only_timezone"),
        ],
    )


def test_offset_only_zone_is_refused_across_a_dst_change(spark):
    # 2024-03-11 04:30 UTC is 00:30 EDT on Mar 11 (DST began Mar 10); the payload's
    # gmtoffset -18000 (EST, fetched before the change) would say 23:30 on Mar 10.
    after_change = int(datetime(2024, 3, 11, 4, 30, tzinfo=UTC).timestamp())
    named = yahoo_body("AAPL", [after_change], [1], [1], [1], [1], [5],
                       tz="America/New_York", gmtoffset=-18000)
    offset = yahoo_body("AAPL", [after_change], [1], [1], [1], [1], [5], tz=None,
                        gmtoffset=-18000)
    unknown_name = yahoo_body("AAPL", [after_change], [1], [1], [1], [1], [5], tz="EST5EDT?",
                              gmtoffset=-18000)
    got = classified(
        spark, {"key": "n", "body": named}, {"key": "o", "body": offset},
        {"key": "u", "body": unknown_name},
    ).select("source_object", "trade_date", "rule", "detail")
    assertDataFrameEqual(
        got,
        [
            Row(source_object="n", trade_date=date(2024, 3, 11), rule=None, detail=None),
            Row(source_object="o", trade_date=None, rule="offset_only_timezone",
                detail="zone name missing unknown; gmtoffset -18000 is a fixed offset, wrong "
                       "across daylight-saving changes"),
            Row(source_object="u", trade_date=None, rule="offset_only_timezone",
                detail="zone name EST5EDT? unknown; gmtoffset -18000 is a fixed offset, wrong "
                       "across daylight-saving changes"),
        ],
    )


def test_array_length_mismatch_quarantines_the_whole_payload(spark):
    stamps = [1704205800, 1704292200, 1704378600]
    # one close is missing: zipping by position would pin closes on the wrong days
    short_close = yahoo_body("AAPL", stamps, [1, 2, 3], [2, 3, 4], [0.5, 1, 2], [1.5, 2.5],
                             [5, 5, 5], adjcloses=[1.5, 2.5, 3.5])
    short_adj = yahoo_body("AAPL", stamps, [1, 2, 3], [2, 3, 4], [0.5, 1, 2], [1.5, 2.5, 3.5],
                           [5, 5, 5], adjcloses=[1.5, 2.5])
    short_adj["chart"]["result"][0]["events"] = {
        "splits": {"1": {"date": 1704292200, "numerator": 2, "denominator": 1}}}
    fine = yahoo_body("AAPL", stamps[:1], [1], [2], [0.5], [1.5], [5])
    items = ({"key": "c", "body": short_close}, {"key": "a", "body": short_adj},
             {"key": "f", "body": fine})
    got = classified(spark, *items).select("source_object", "bar_index", "rule")
    assertDataFrameEqual(
        got,
        [*[Row(source_object="c", bar_index=i, rule="array_length_mismatch") for i in range(3)],
         *[Row(source_object="a", bar_index=i, rule="array_length_mismatch") for i in range(3)],
         Row(source_object="f", bar_index=0, rule=None)],
    )
    detail = classified(spark, items[0]).first()["detail"]
    assert detail == ("array lengths differ: timestamp 3, open 3, high 3, low 3, close 2, "
                      "volume 3, adjclose 3")
    # the payload's split is quarantined with it; nothing of it reaches silver
    acts = T.classify_actions(T.explode_actions(T.payloads(objects(spark, *items), ZONES)),
                              WATCH)
    assertDataFrameEqual(acts.select("source_object", "kind", "rule", "winner"),
                         [Row(source_object="a", kind="split", rule="array_length_mismatch",
                              winner=False)])
    expected = T.payloads(objects(spark, *items), ZONES).select("object_key", "expected_rows")
    assertDataFrameEqual(expected, [Row(object_key="c", expected_rows=3),
                                    Row(object_key="a", expected_rows=4),
                                    Row(object_key="f", expected_rows=1)])


RULE_CASES = [
    # (open, high, low, close, volume, adj) -> rule
    ((1, 2, 0.5, 1.5, 10, None), None),
    ((None, 2, 0.5, 1.5, 10, None), "null_price"),
    ((1, 2, 0.5, "abc", 10, None), "null_price"),
    ((1, 2, -0.5, 1.5, 10, None), "non_positive_price"),
    ((1, 2, 0.5, 1.5, 10, 0), "non_positive_price"),
    ((1, 0.4, 0.5, 0.45, 10, None), "high_below_low_open_close"),
    ((1, 1.2, 0.5, 1.5, 10, None), "high_below_low_open_close"),
    ((1, 2, 1.2, 1.5, 10, None), "low_above_open_close"),
    ((1, 2, 0.5, 1.5, None, None), "null_volume"),
    ((1, 2, 0.5, 1.5, 2.5, None), "null_volume"),
    ((1, 2, 0.5, 1.5, -1, None), "negative_volume"),
]


def test_each_value_rule(spark):
    n = len(RULE_CASES)
    stamps = [1704205800 + 86400 * i for i in range(n)]
    cols = list(zip(*[case for case, _ in RULE_CASES], strict=True))
    body = yahoo_body("AAPL", stamps, *cols[:5], adjcloses=cols[5])
    got = classified(spark, {"body": body}).select("bar_index", "rule")
    assertDataFrameEqual(got, [Row(bar_index=i, rule=r) for i, (_, r) in enumerate(RULE_CASES)])


def test_structural_rules(spark):
    good = yahoo_body("AAPL", [1704205800, "x", 1704292200, 1704292200],
                      [1, 1, 1, 2], [2, 2, 2, 3], [0.5, 0.5, 0.5, 1], [1.5, 1.5, 1.5, 2.5],
                      [5, 5, 5, 6])
    bad_zone = yahoo_body("AAPL", [1704205800], [1], [2], [0.5], [1.5], [5], tz="Mars/Base",
                          gmtoffset=None)
    got = classified(
        spark,
        {"key": "a", "body": good},
        {"key": "u", "symbol": "TSLA", "body": good},
        {"key": "z", "body": bad_zone},
        {"key": "e", "body": yahoo_error_body(), "error": "chart_error"},
        {"key": "e2", "body": yahoo_error_body()},  # ingestor did not flag it
        {"key": "t", "body": '{"chart": {"result": [{"meta"'},
        {"key": "h", "body": "<html>down</html>"},
    ).select("source_object", "bar_index", "rule")
    assertDataFrameEqual(
        got,
        [
            Row(source_object="a", bar_index=0, rule=None),
            Row(source_object="a", bar_index=1, rule="null_timestamp"),
            Row(source_object="a", bar_index=2, rule="duplicate_timestamp"),
            Row(source_object="a", bar_index=3, rule=None),  # the last occurrence counts
            *[Row(source_object="u", bar_index=i, rule="unknown_symbol") for i in range(4)],
            Row(source_object="z", bar_index=0, rule="unknown_timezone"),
            Row(source_object="e", bar_index=-1, rule="error_payload"),
            Row(source_object="e2", bar_index=-1, rule="error_payload"),
            Row(source_object="t", bar_index=-1, rule="unparseable_payload"),
            Row(source_object="h", bar_index=-1, rule="unparseable_payload"),
        ],
    )


def test_nulls_inside_arrays_and_missing_adjclose(spark):
    body = yahoo_body("AAPL", [1704205800, 1704292200], [1, None], [2, None], [0.5, None],
                      [1.5, None], [5, None])
    got = classified(spark, {"body": body}).select("bar_index", "adj_close", "rule")
    assertDataFrameEqual(got, [Row(bar_index=0, adj_close=None, rule=None),
                               Row(bar_index=1, adj_close=None, rule="null_price")])


def test_in_batch_dedup_newest_fetch_wins(spark):
    old = yahoo_body("AAPL", [1704205800, 1704292200], [1, 1], [2, 2], [0.5, 0.5], [1.5, 1.5],
                     [5, 5])
    new = yahoo_body("AAPL", [1704292200], [1], [2], [0.5], [1.9], [7])
    got = T.silver_rows(
        classified(
            spark,
            {"key": "z-old", "body": old, "at": datetime(2024, 1, 3, 0, 0)},
            {"key": "a-new", "body": new, "at": datetime(2024, 1, 4, 0, 0)},
        )
    ).select("ts", "close", "volume", "source_object")
    assertDataFrameEqual(
        got,
        [Row(ts=ts("2024-01-02T14:30:00+00:00"), close=1.5, volume=5, source_object="z-old"),
         Row(ts=ts("2024-01-03T14:30:00+00:00"), close=1.9, volume=7, source_object="a-new")],
    )


def test_quarantine_rows_carry_rule_and_source(spark):
    body = yahoo_body("AAPL", [1704205800], [1], [2], [0.5], [1.5], [-3])
    got = T.quarantine_rows(classified(spark, {"key": "k", "body": body}), "run9").select(
        "source_object", "bar_index", "rule", "volume", "transform_run")
    assertDataFrameEqual(got, [Row(source_object="k", bar_index=0, rule="negative_volume",
                                   volume=-3, transform_run="run9")])


def test_alphavantage_daily(spark):
    body = {
        "Meta Data": {"1. Information": "Daily Prices", "2. Symbol": "IBM",
                      "5. Time Zone": "US/Eastern"},
        "Time Series (Daily)": {
            "2024-01-05": {"1. open": "160.0", "2. high": "162.0", "3. low": "159.0",
                           "4. close": "161.0", "5. volume": "3000"},
            "2024-01-04": {"1. open": "158.0", "2. high": "157.0", "3. low": "156.0",
                           "4. close": "156.5", "5. volume": "2000"},
        },
    }
    info = {"Information": "rate limit reached"}
    got = classified(
        spark,
        {"key": "av", "source": "alphavantage", "symbol": "IBM", "body": body},
        {"key": "ai", "source": "alphavantage", "symbol": "IBM", "body": info},
    ).select("source_object", "ts", "trade_date", "open", "close", "volume", "rule")
    assertDataFrameEqual(
        got,
        [
            Row(source_object="av", ts=ts("2024-01-05T05:00:00+00:00"),
                trade_date=date(2024, 1, 5), open=160.0, close=161.0, volume=3000, rule=None),
            Row(source_object="av", ts=ts("2024-01-04T05:00:00+00:00"),
                trade_date=date(2024, 1, 4), open=158.0, close=156.5, volume=2000,
                rule="high_below_low_open_close"),
            Row(source_object="ai", ts=None, trade_date=None, open=None, close=None, volume=None,
                rule="error_payload"),
        ],
    )


def test_corporate_actions_parsed_with_rules(spark):
    stamps = [1704205800, 1704292200]
    body = yahoo_body("AAPL", stamps, [1, 1], [2, 2], [0.5, 0.5], [1.5, 1.5], [5, 5])
    body["chart"]["result"][0]["events"] = {
        "splits": {
            "1704292200": {"date": 1704292200, "numerator": 4, "denominator": 1,
                           "splitRatio": "4:1"},
            "1704378600": {"date": 1704378600, "splitRatio": "3:2"},  # ratio from the text
            "1704465000": {"date": 1704465000, "numerator": 0, "denominator": 1},
        },
        "dividends": {
            "1704205800": {"date": 1704205800, "amount": 0.24},
            "1704724200": {"date": 1704724200, "amount": -1},
            "1704810600": {"amount": 0.1},
        },
    }
    got = T.classify_actions(
        T.explode_actions(T.payloads(objects(spark, {"key": "k", "body": body}), ZONES)), WATCH
    ).select("action_index", "kind", "ex_date", "ratio", "amount", "rule", "winner")
    assertDataFrameEqual(
        got,
        [
            Row(action_index=0, kind="split", ex_date=date(2024, 1, 3), ratio=4.0, amount=None,
                rule=None, winner=True),
            Row(action_index=1, kind="split", ex_date=date(2024, 1, 4), ratio=1.5, amount=None,
                rule=None, winner=True),
            Row(action_index=2, kind="split", ex_date=date(2024, 1, 5), ratio=0.0, amount=None,
                rule="invalid_split_ratio", winner=False),
            Row(action_index=3, kind="dividend", ex_date=date(2024, 1, 2), ratio=None,
                amount=0.24, rule=None, winner=True),
            Row(action_index=4, kind="dividend", ex_date=date(2024, 1, 8), ratio=None,
                amount=-1.0, rule="invalid_dividend_amount", winner=False),
            Row(action_index=5, kind="dividend", ex_date=None, ratio=None, amount=0.1,
                rule="null_timestamp", winner=False),
        ],
    )
    # conservation counts them: 2 bars + 6 actions
    assert T.payloads(objects(spark, {"key": "k", "body": body}), ZONES).first()[
        "expected_rows"] == 8


def test_alphavantage_split_coefficient_and_dividend(spark):
    day = {"1. open": "10", "2. high": "11", "3. low": "9", "4. close": "10",
           "5. adjusted close": "10", "6. volume": "100"}
    body = {
        "Meta Data": {"2. Symbol": "IBM", "5. Time Zone": "US/Eastern"},
        "Time Series (Daily)": {
            "2024-01-05": {**day, "7. dividend amount": "0.0000", "8. split coefficient": "2.0"},
            "2024-01-04": {**day, "7. dividend amount": "1.6500", "8. split coefficient": "1.0"},
            "2024-01-03": {**day, "7. dividend amount": "0.0000", "8. split coefficient": "1.0"},
        },
    }
    got = T.classify_actions(T.explode_actions(T.payloads(objects(
        spark, {"key": "av", "source": "alphavantage", "symbol": "IBM", "body": body}), ZONES)),
        WATCH).select("kind", "ex_date", "ratio", "amount", "rule")
    assertDataFrameEqual(got, [
        Row(kind="split", ex_date=date(2024, 1, 5), ratio=2.0, amount=None, rule=None),
        Row(kind="dividend", ex_date=date(2024, 1, 4), ratio=None, amount=1.65, rule=None)])


def test_expected_rows_count_bars_or_one_per_bad_payload(spark):
    body = yahoo_body("AAPL", [1, 2, 3], [1, 1], [1], [], [1, 1, 1, 1], [1])
    got = T.payloads(
        objects(spark, {"key": "a", "body": body}, {"key": "b", "body": "{"}), ZONES
    ).select("object_key", "expected_rows")
    assertDataFrameEqual(got, [Row(object_key="a", expected_rows=4),
                               Row(object_key="b", expected_rows=1)])


def test_object_counts(spark):
    body = yahoo_body("AAPL", [1704205800, 1704292200], [1, 1], [2, 2], [0.5, 0.5],
                      [1.5, 1.5], [5, -5])
    got = T.object_counts(classified(spark, {"key": "k", "body": body}))
    assertDataFrameEqual(got, [Row(source_object="k", rows_accepted=1, rows_quarantined=1)])


def test_conservation_check():
    check_conservation({"a": 3, "b": 1}, {"a": [2, 1], "b": [0, 1]})
    with pytest.raises(ConservationError, match="a: 3 rows parsed != 2 accepted"):
        check_conservation({"a": 3}, {"a": [2, 0]})
    with pytest.raises(ConservationError):
        check_conservation({"a": 3, "c": 2}, {"a": [3, 0]})


def test_lineage_columns(spark):
    body = yahoo_body("AAPL", [1704205800], [1], [2], [0.5], [1.5], [5])
    got = T.silver_rows(classified(spark, {"key": "k", "body": body})).select(
        "source_object", "ingest_run", "ingested_at", F.col("source"))
    assertDataFrameEqual(got, [Row(source_object="k", ingest_run="r1",
                                   ingested_at=datetime(2024, 1, 2, 0, 0), source="yahoo")])
