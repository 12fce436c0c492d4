"""Property-based: the payload parser never crashes, every bar is accepted or quarantined.

The oracle is computed in Python from the generated payload (bars = longest array, or
1 for a payload that is not a usable chart), independently of the Spark code.
"""

from __future__ import annotations

import json
from datetime import date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medallion.transformer import transform as T
from medallion.transformer.testing import yahoo_error_body

ZONES = frozenset({"America/New_York", "Asia/Tokyo", "America/Sao_Paulo"})
OBJ_SCHEMA = (
    "object_key string, source string, symbol string, interval string, ingest_date date, "
    "ingest_run string, ingested_at timestamp, meta_error string, meta_error_message string, "
    "body string"
)

value = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=5),
)
stamp = st.one_of(st.none(), st.integers(min_value=-(10**13), max_value=10**13),
                  st.sampled_from(["x", "1704205800", ""]))


@st.composite
def chart(draw):
    n = draw(st.integers(min_value=0, max_value=5))
    arrays = {}
    for name in ("open", "high", "low", "close", "volume"):
        if draw(st.booleans()) or name == "close":
            arrays[name] = draw(st.lists(value, min_size=0, max_size=n + 1))
    stamps = draw(st.lists(stamp, min_size=n, max_size=n))
    result = {
        "meta": {"exchangeTimezoneName": draw(st.sampled_from(
                    [None, "Asia/Tokyo", "America/Sao_Paulo", "Nowhere/City"])),
                 "gmtoffset": draw(st.one_of(st.none(), st.integers(-50000, 50000)))},
        "timestamp": stamps,
        "indicators": {"quote": [arrays]},
    }
    if draw(st.booleans()):
        result["indicators"]["adjclose"] = [{"adjclose": draw(st.lists(value, max_size=n))}]
    body = {"chart": {"result": [result], "error": None}}
    bars = max([len(stamps)] + [len(a) for a in arrays.values()]
               + [len(result["indicators"].get("adjclose", [{"adjclose": []}])[0]["adjclose"])])
    # a missing price array has length 0; adjclose is optional
    lengths = {len(stamps)} | {len(arrays.get(n, [])) for n in
                               ("open", "high", "low", "close", "volume")}
    if "adjclose" in result["indicators"]:
        lengths.add(len(result["indicators"]["adjclose"][0]["adjclose"]))
    return json.dumps(body), bars, len(lengths) > 1


@st.composite
def payload(draw):
    kind = draw(st.sampled_from(["chart", "chart", "error", "truncated", "text"]))
    if kind == "chart":
        return draw(chart())
    if kind == "error":
        return json.dumps(yahoo_error_body()), 1, False
    if kind == "truncated":
        text, _, _ = draw(chart())
        return text[: draw(st.integers(min_value=1, max_value=len(text) - 1))], 1, False
    return draw(st.text(max_size=30)), 1, False


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(payload(), min_size=1, max_size=4),
       st.lists(st.sampled_from(["AAPL", "ZZZ"]), min_size=4, max_size=4))
def test_parser_never_crashes_and_conserves_rows(spark, items, symbols):
    rows = [
        (f"o{i}", "yahoo", symbols[i], "1d", date(2024, 1, 2), "r", datetime(2024, 1, 2),
         None, None, body)
        for i, (body, _, _) in enumerate(items)
    ]
    objects = spark.createDataFrame(rows, OBJ_SCHEMA)
    got = T.classify(T.explode_bars(T.payloads(objects, ZONES)), ["AAPL"]).select(
        "source_object", "rule", "winner").collect()
    per_object: dict[str, int] = {}
    mismatched = {f"o{i}" for i, (_, _, bad) in enumerate(items) if bad}
    for row in got:
        per_object[row["source_object"]] = per_object.get(row["source_object"], 0) + 1
        assert row["rule"] is None or row["rule"] in T.RULES
        assert not (row["winner"] and row["rule"] is not None)
        # arrays of different lengths: the whole payload is quarantined, by its own rule
        if row["source_object"] in mismatched:
            assert row["rule"] == "array_length_mismatch", row
    expected = {f"o{i}": n for i, (_, n, _) in enumerate(items) if n}
    assert per_object == expected
