"""The floor: the same silver and gold logic in DuckDB, on the same bronze objects.

What a user would write instead for small data, kept faithful to the Spark jobs
(medallion.transformer.transform and medallion.aggregator.metrics) rule by rule:

silver
  * each body paired with its ``.meta.json`` sidecar; lineage from the key;
  * payload verdict: ``meta.error`` or ``chart.error`` -> ``error_payload``; no
    ``chart.result[0]`` (or not JSON) -> ``unparseable_payload``; a bad payload is one
    quarantined row (bar_index -1); arrays of different lengths ->
    ``array_length_mismatch`` for every bar of the payload;
  * arrays exploded together by position (the length of the longest array, shorter ones
    padded with NULL, like ``arrays_zip``); prices read as DOUBLE, a non-number (text,
    a boolean, NaN, +-Infinity) is NULL, as Spark's text + ``try_cast`` makes it;
  * ts = integral epoch seconds as UTC; trade_date = the date in the exchange's zone
    (``exchangeTimezoneName`` when it is a known zone; a payload with only a
    ``gmtoffset`` is ``offset_only_timezone``, as in Spark);
  * rules in the same order (unknown_symbol, null_timestamp, offset_only_timezone,
    unknown_timezone, duplicate_timestamp, null_price, non_positive_price,
    high_below_low_open_close, low_above_open_close, null_volume, negative_volume);
    conservation checked;
  * de-duplication on (symbol, interval, ts): the newest fetch wins.
gold
  * daily OHLCV from the finest interval of the day (first open, max high, min low,
    last close by ts, sum volume), VWAP over bars with volume > 0 on the typical price,
    simple/log returns on the close, SMA 20/50/200 (NULL until full),
    20-day annualised volatility (stddev_samp of log returns * sqrt 252), drawdown from
    the running max close, 52-week (252-row) high/low. The benchmark's bronze has no
    corporate actions, so the as-traded and the split-adjusted columns are the same
    values and the total-return close is the close (gold's adjustment itself is checked
    by tests/integration/test_gold_oracle.py, not here).

Alpha Vantage payloads and corporate actions (Yahoo ``events``) are not handled here (the
benchmark only produces Yahoo-shaped bronze without them); :func:`run_duckdb` refuses
them rather than guessing. tests/bench/test_duckdb_floor_rules.py holds the rules to
Spark's on messy bronze.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from medallion.aggregator.metrics import GOLD_COLUMNS, INTERVAL_MINUTES
from medallion.transformer.transform import KEY_PATTERN

_QUOTE = ("open", "high", "low", "close", "volume")
# a payload's arrays, in the order of Spark's arrays_zip and of its length detail
_ARRAYS = ("ts", *_QUOTE, "adj")

_META = (
    '{"source":"VARCHAR","symbol":"VARCHAR","interval":"VARCHAR","run_id":"VARCHAR",'
    '"fetched_at":"VARCHAR","error":"VARCHAR","error_message":"VARCHAR"}'
)


def _yahoo_structure(number: str) -> str:
    """The ``from_json`` structure of a Yahoo chart body, price arrays read as ``number``.

    Timestamps and the offset stay text: Spark's integer casts accept integral text only
    (see :func:`_integral`), which a typed read cannot tell from a float it rounded."""
    quote = ",".join(f'"{n}":["{number}"]' for n in _QUOTE)
    return (
        '{"chart":{"result":[{"meta":{"currency":"VARCHAR","exchangeTimezoneName":"VARCHAR",'
        '"gmtoffset":"VARCHAR"},"timestamp":["VARCHAR"],'
        '"events":{"splits":"JSON","dividends":"JSON"},'
        f'"indicators":{{"quote":[{{{quote}}}],"adjclose":[{{"adjclose":["{number}"]}}]}}}}],'
        '"error":"VARCHAR"}}'
    )


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _integral(text: str, sql_type: str) -> str:
    """Spark's ``try_cast`` of text to an integer type: integral text only (Spark gives
    NULL for "1.5", DuckDB's cast would round it to 2), NULL on overflow."""
    return (
        f"CASE WHEN regexp_full_match({text}, '\\s*[+-]?[0-9]+\\s*') "
        f"THEN TRY_CAST({text} AS {sql_type}) END"
    )


def _finite(value: str) -> str:
    """NaN and +-Infinity are never prices: NULL (like the Spark job)."""
    return f"CASE WHEN isfinite({value}) THEN {value} END"


def _minutes_case(column: str) -> str:
    arms = " ".join(f"WHEN '{k}' THEN {v}" for k, v in INTERVAL_MINUTES.items())
    return f"CASE {column} {arms} ELSE 1440 END"


@dataclass
class DuckResult:
    seconds: dict[str, float] = field(default_factory=dict)
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    silver_rows: int = 0
    gold_rows: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def silver_gold_seconds(self) -> float:
        return round(self.seconds.get("silver", 0.0) + self.seconds.get("gold", 0.0), 3)


# --------------------------------------------------------------------------- silver
def _objects_sql(paths: Sequence[str]) -> str:
    """One row per data object: its body, its sidecar's fields and lineage from the key
    (``bronze_objects``), plus two flags the parse needs (see :func:`_parsed_sql`)."""
    kp = KEY_PATTERN.replace("'", "''")
    groups = ["key", "source", "symbol", "interval", "ingest_date", "object", "run", "meta"]
    return f"""
CREATE OR REPLACE TEMP TABLE objects AS
WITH files AS (
  SELECT regexp_extract(filename, '{kp}', {_sql_list(groups)}) AS k, content
  FROM read_text({_sql_list(paths)})
), metas AS (
  SELECT regexp_replace(k.key, '\\.meta\\.json$', '.json') AS key,
         CASE WHEN json_valid(content) THEN from_json(content, '{_META}') END AS m
  FROM files WHERE k.meta = '.meta' AND k.key <> ''
)
SELECT b.k.key AS object_key,
       coalesce(m.m.source, b.k.source) AS source,
       upper(coalesce(m.m.symbol, b.k.symbol)) AS symbol,
       coalesce(m.m.interval, b.k.interval) AS interval,
       coalesce(m.m.run_id, b.k.run) AS ingest_run,
       TRY_CAST(m.m.fetched_at AS TIMESTAMPTZ)::TIMESTAMP AS ingested_at,
       m.m.error AS meta_error, m.m.error_message AS meta_error_message,
       b.content AS body,
       json_valid(b.content) AS valid,
       contains(b.tail, 'true') OR contains(b.tail, 'false') AS literal
FROM (SELECT *, substr(content, strpos(content, '"indicators"')) AS tail FROM files) b
LEFT JOIN metas m ON m.key = b.k.key
WHERE b.k.meta = '' AND b.k.key <> ''
"""


def _chart_columns(number_list: str) -> str:
    """What the rules use of a parsed chart ``doc``; ``number_list`` (a format string)
    turns a price array as read into DOUBLE[]."""
    res = "doc.chart.result[1]"
    quote = f"{res}.indicators.quote[1]"
    prices = ", ".join(number_list.format(f"{quote}.{n}") + f" AS a_{n}" for n in _QUOTE)
    actions = " + ".join(
        f"coalesce(CASE WHEN json_type({res}.events.{kind}) = 'OBJECT' "
        f"THEN len(json_keys({res}.events.{kind})) END, 0)"
        for kind in ("splits", "dividends")
    )
    return f"""{res} IS NOT NULL AS has_result, doc.chart.error AS chart_error,
       {res}.meta.currency AS currency, {res}.meta.exchangeTimezoneName AS exchange_tz,
       {_integral(f"{res}.meta.gmtoffset", "INTEGER")} AS off,
       {res}.timestamp AS a_ts, {prices},
       {number_list.format(f"{res}.indicators.adjclose[1].adjclose")} AS a_adj,
       {actions} AS actions"""


def _parsed_sql() -> str:
    """Each body parsed once, prices read straight into DOUBLE (reading every number as
    text and casting it took three times as long).

    One exception keeps Spark's semantics: DuckDB reads a JSON ``true`` into a DOUBLE as
    1.0, Spark reads it as the text "true", which is not a number (null_price). A body
    whose indicators hold the word true or false is read as text and cast, like Spark.
    Invalid JSON is not parsed at all (from_json would fail): unparseable_payload."""
    typed = _chart_columns("{}")
    texted = _chart_columns("list_transform({}, lambda v: TRY_CAST(v AS DOUBLE))")
    return f"""
CREATE OR REPLACE TEMP TABLE parsed AS
SELECT * EXCLUDE (body, doc), {typed}
FROM (SELECT *, from_json(body, '{_yahoo_structure("DOUBLE")}') AS doc
      FROM objects WHERE valid AND NOT literal)
UNION ALL BY NAME
SELECT * EXCLUDE (body, doc), {texted}
FROM (SELECT *, from_json(body, '{_yahoo_structure("VARCHAR")}') AS doc
      FROM objects WHERE valid AND literal)
UNION ALL BY NAME
SELECT * EXCLUDE (body), false AS has_result, 0 AS actions FROM objects WHERE NOT valid
"""


def _instant(raw: str) -> str:
    """Spark's ``_instant``: integral epoch seconds within 1900..2100 (beyond that it is
    not a bar time), else a local date-time in the exchange's zone."""
    epoch = _integral(raw, "BIGINT")
    return f"""CASE WHEN ({epoch}) BETWEEN -2208988800 AND 4102444800
                THEN make_timestamp(({epoch}) * 1000000)
              WHEN zone IS NOT NULL AND TRY_CAST({raw} AS TIMESTAMP) IS NOT NULL
                THEN timezone(zone, TRY_CAST({raw} AS TIMESTAMP)) AT TIME ZONE 'UTC' END"""


def _payloads_sql(watchlist: Sequence[str]) -> str:
    """One row per object (``yahoo_payloads`` + ``payloads``): the verdict on the payload,
    its zone, the array-length check, the rows it must yield (conservation), its bar times
    as a list, and whether any of its keys can occur twice in the batch (``contested``)."""
    sizes = {n: f"len(coalesce(a_{n}, []))" for n in _ARRAYS}
    # adjclose is optional (intraday has none); when present it must line up too
    shape = {**sizes, "adj": f"coalesce(len(a_adj), {sizes['ts']})"}
    label = {"ts": "timestamp", "adj": "adjclose"}
    mismatch = " OR ".join(f"{s} <> {sizes['ts']}" for n, s in shape.items() if n != "ts")
    lengths = " || ', ' || ".join(f"'{label.get(n, n)} ' || {s}" for n, s in shape.items())
    longest = f"greatest({', '.join(sizes.values())})"
    return f"""
CREATE OR REPLACE TEMP TABLE payloads AS
WITH ids AS (
  -- a small id for the rows to carry instead of the object key (numbered here, not with
  -- the bodies: the window would copy them)
  SELECT object_key, row_number() OVER ()::INTEGER AS object_id FROM parsed
), v AS (
  SELECT *,
    CASE WHEN meta_error IS NOT NULL OR chart_error IS NOT NULL THEN 'error_payload'
         WHEN NOT has_result THEN 'unparseable_payload' END AS bad,
    CASE WHEN exchange_tz IN (SELECT name FROM pg_timezone_names()) THEN exchange_tz END AS zone,
    CASE WHEN abs(off) < 18 * 3600 THEN off END AS gmtoffset,
    coalesce(list_contains({_sql_list(list(watchlist))}, symbol), false) AS watched
  FROM parsed JOIN ids USING (object_key)
), timed AS (
  SELECT *,
    coalesce(bad, CASE WHEN {mismatch} THEN 'array_length_mismatch' END) AS payload_rule,
    CASE WHEN meta_error IS NOT NULL THEN concat_ws(': ', meta_error, meta_error_message)
         WHEN chart_error IS NOT NULL THEN chart_error
         WHEN NOT has_result THEN 'body is not a chart payload with a result'
         WHEN {mismatch} THEN 'array lengths differ: ' || {lengths} END AS detail,
    CASE WHEN bad IS NULL THEN list_transform(a_ts, lambda r: {_instant("r")}) END AS ts
  FROM v
)
SELECT object_id, object_key, source, symbol, interval, ingest_run, ingested_at, zone,
       gmtoffset, exchange_tz, currency, watched, actions, payload_rule, detail,
       bad IS NOT NULL AS bad, {longest} AS n_bars,
       CASE WHEN bad IS NOT NULL THEN 1 ELSE {longest} + actions END::BIGINT AS expected_rows,
       {", ".join(f"a_{n}" for n in _ARRAYS)}, ts,
       list_min(ts) AS first_ts, list_max(ts) AS last_ts,
       -- strictly increasing bar times cannot repeat (a NULL time counts as a maybe)
       NOT coalesce(list_bool_and(list_transform(range(1, len(ts)),
                                                 lambda i: coalesce(ts[i] < ts[i + 1], false))),
                    true) AS maybe_repeats
FROM timed
"""


def _bars(where: str) -> str:
    """The rows of the payloads matching ``where`` (``explode_bars``): a good payload's
    arrays unnested side by side (padded with NULL to the longest, like ``arrays_zip``)
    and typed; a bad payload is one row, bar_index -1. Payload-level columns stay in
    ``payloads``; rows carry its ``object_id``."""
    arrays = ", ".join(f"unnest(a_{n}) AS r_{n}" for n in _ARRAYS)
    return f"""(
  WITH rows AS (
    SELECT *, unnest(range(n_bars))::INTEGER AS bar_index, unnest(ts) AS bar_ts, {arrays}
    FROM payloads WHERE NOT bad AND {where}
    UNION ALL BY NAME
    SELECT *, -1 AS bar_index FROM payloads WHERE bad AND {where}
  )
  SELECT object_id, object_key AS source_object, bar_index, bar_ts AS ts, r_ts AS raw_ts,
    symbol, interval, ingested_at, payload_rule, detail, zone, gmtoffset, exchange_tz,
    watched,
    CASE WHEN bar_ts IS NOT NULL AND zone IS NOT NULL
         THEN timezone(zone, timezone('UTC', bar_ts))::DATE END AS trade_date,
    {_finite("r_open")} AS open, {_finite("r_high")} AS high, {_finite("r_low")} AS low,
    {_finite("r_close")} AS close, {_finite("r_adj")} AS adj_close,
    -- "123" and "123.0" are volumes, "1.5" is not (null_volume)
    CASE WHEN isfinite(r_volume) AND TRY_CAST(r_volume AS BIGINT)::DOUBLE = r_volume
         THEN TRY_CAST(r_volume AS BIGINT) END AS volume
  FROM rows
)"""


def _rule(dup: str) -> str:
    """``classify``'s rules in its order (the first that fails names the row) and the
    quarantine detail."""
    return f"""CASE WHEN payload_rule IS NOT NULL THEN payload_rule
         WHEN NOT watched THEN 'unknown_symbol'
         WHEN ts IS NULL THEN 'null_timestamp'
         WHEN zone IS NULL AND gmtoffset IS NOT NULL THEN 'offset_only_timezone'
         WHEN trade_date IS NULL THEN 'unknown_timezone'
         WHEN {dup} THEN 'duplicate_timestamp'
         WHEN open IS NULL OR high IS NULL OR low IS NULL OR close IS NULL THEN 'null_price'
         WHEN coalesce(open <= 0 OR high <= 0 OR low <= 0 OR close <= 0 OR adj_close <= 0,
                       false) THEN 'non_positive_price'
         WHEN high < low OR high < open OR high < close THEN 'high_below_low_open_close'
         WHEN low > open OR low > close THEN 'low_above_open_close'
         WHEN volume IS NULL THEN 'null_volume'
         WHEN volume < 0 THEN 'negative_volume' END AS rule,
    coalesce(detail,
      CASE WHEN ts IS NULL AND raw_ts IS NOT NULL THEN 'unparseable ts ' || raw_ts END,
      CASE WHEN ts IS NOT NULL AND zone IS NULL AND gmtoffset IS NOT NULL
           THEN printf('zone name %s unknown; gmtoffset %d is a fixed offset, wrong across '
                       'daylight-saving changes', coalesce(exchange_tz, 'missing'), gmtoffset)
           WHEN ts IS NOT NULL AND trade_date IS NULL
           THEN 'no usable zone: ' || coalesce(exchange_tz, '') END) AS detail"""


_CLASSIFIED = (
    "object_id, bar_index, ts, trade_date, open, high, low, close, adj_close, volume, rule, detail"
)


def _classified_sql() -> str:
    """Every row with its rule (NULL = accepted) and ``winner`` (the row kept for its key).

    Spark finds repeated keys with two windows over (symbol, interval, ts): a ts repeated
    inside one payload (its last occurrence counts) and the newest fetch of a key across
    payloads. A key can repeat only inside a payload whose bar times are not strictly
    increasing, or across payloads of one symbol and interval whose time spans overlap:
    only those payloads' rows go through the windows. Every other row is alone on its key
    (no duplicate; the winner if accepted). Before this split the windows over every row
    were half of the silver time; a backfill has no contested payload at all."""
    return f"""
CREATE OR REPLACE TEMP TABLE classified AS
WITH contested AS (
  SELECT object_id FROM payloads WHERE NOT bad AND maybe_repeats
  UNION
  SELECT a.object_id FROM payloads a JOIN payloads b
    ON a.object_id <> b.object_id AND NOT a.bad AND NOT b.bad
   AND a.symbol IS NOT DISTINCT FROM b.symbol AND a.interval IS NOT DISTINCT FROM b.interval
   AND a.first_ts <= b.last_ts AND b.first_ts <= a.last_ts
), shared AS (
  SELECT *, {_rule("dup")}
  FROM (SELECT *,
          ts IS NOT NULL AND lag(source_object) OVER (
            PARTITION BY symbol, interval, ts ORDER BY source_object, bar_index DESC
          ) = source_object AS dup
        FROM {_bars("object_id IN (SELECT object_id FROM contested)")})
)
SELECT {_CLASSIFIED}, rule IS NULL AS winner
FROM (SELECT *, {_rule("false")}
      FROM {_bars("object_id NOT IN (SELECT object_id FROM contested)")})
UNION ALL
SELECT {_CLASSIFIED},
  rule IS NULL AND row_number() OVER (
    PARTITION BY symbol, interval, ts
    ORDER BY (rule IS NULL) DESC, ingested_at DESC NULLS LAST, source_object DESC,
             bar_index DESC) = 1 AS winner
FROM shared
"""


def silver_sql(paths: Sequence[str], watchlist: Sequence[str]) -> list[str]:
    """Statements that build ``prices`` and ``quarantine`` from bronze files (bodies and
    sidecars given together, like the Spark job's read). Bars carry their payload's id;
    its lineage columns are joined in only when the silver tables are written."""
    return [
        _objects_sql(paths),
        _parsed_sql(),
        _payloads_sql(watchlist),
        _classified_sql(),
        """
CREATE OR REPLACE TABLE prices AS
SELECT p.symbol, p.interval, c.ts, c.trade_date, c.open, c.high, c.low, c.close, c.adj_close,
       c.volume, p.currency, p.exchange_tz, p.source, p.object_key AS source_object,
       p.ingest_run, p.ingested_at
FROM classified c JOIN payloads p USING (object_id) WHERE c.winner
""",
        """
CREATE OR REPLACE TABLE quarantine AS
SELECT p.object_key AS source_object, c.bar_index, c.rule, c.detail, p.source, p.symbol,
       p.interval, c.ts, c.trade_date, c.open, c.high, c.low, c.close, c.adj_close, c.volume,
       p.ingest_run, p.ingested_at
FROM classified c JOIN payloads p USING (object_id) WHERE c.rule IS NOT NULL
""",
    ]


def gold_sql() -> list[str]:
    minutes = _minutes_case("interval")
    sma = ",\n".join(
        f"CASE WHEN count(close) OVER (w ROWS BETWEEN {n - 1} PRECEDING AND CURRENT ROW) = {n}"
        f" THEN avg(close) OVER (w ROWS BETWEEN {n - 1} PRECEDING AND CURRENT ROW) END AS sma_{n}"
        for n in (20, 50, 200)
    )
    return [
        f"""
CREATE OR REPLACE TABLE daily AS
WITH per_interval AS (
  SELECT symbol, trade_date, {minutes} AS minutes,
         arg_min_null(open, ts) AS open, max(high) AS high, min(low) AS low,
         arg_max_null(close, ts) AS close, arg_max_null(adj_close, ts) AS adj_close,
         sum(volume) AS volume,
         sum(CASE WHEN volume > 0 THEN (high + low + close) / 3 * volume END) AS pv,
         sum(CASE WHEN volume > 0 THEN volume END) AS traded_volume,
         count(*)::INTEGER AS bar_count, max(ingested_at) AS updated_at
  FROM prices GROUP BY ALL
), picked AS (
  SELECT *, min(minutes) OVER (PARTITION BY symbol, trade_date) AS finest FROM per_interval
)
SELECT symbol, trade_date, open, high, low, close, adj_close, volume::BIGINT AS volume,
       CASE WHEN traded_volume > 0 THEN pv / traded_volume END AS vwap, bar_count, updated_at
FROM picked WHERE minutes = finest
""",
        f"""
CREATE OR REPLACE TABLE gold AS
WITH base AS (
  SELECT *,
    lag(close) OVER (PARTITION BY symbol ORDER BY trade_date) AS prev,
    close AS price
  FROM daily
), r AS (
  SELECT *, CASE WHEN prev > 0 THEN price / prev - 1 END AS return_simple,
         CASE WHEN prev > 0 THEN ln(price / prev) END AS return_log
  FROM base
)
SELECT symbol, trade_date, open AS open_raw, high AS high_raw, low AS low_raw,
       close AS close_raw, volume AS volume_raw, 1.0::DOUBLE AS split_factor,
       open AS open_adj, high AS high_adj, low AS low_adj, close AS close_adj,
       volume::DOUBLE AS volume_adj, close AS close_tr, vwap,
       return_simple, return_log, return_simple AS return_total,
       {sma},
       CASE WHEN count(return_log) OVER (w ROWS BETWEEN 19 PRECEDING AND CURRENT ROW) = 20
            THEN stddev_samp(return_log) OVER (w ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)
                 * {math.sqrt(252)!r} END AS volatility_20d,
       close / max(close) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - 1
         AS drawdown,
       max(high) OVER (w ROWS BETWEEN 251 PRECEDING AND CURRENT ROW) AS high_52w,
       min(low) OVER (w ROWS BETWEEN 251 PRECEDING AND CURRENT ROW) AS low_52w,
       bar_count, updated_at
FROM r
WINDOW w AS (PARTITION BY symbol ORDER BY trade_date)
""",
    ]


def run_duckdb(
    paths: Sequence[str], watchlist: Sequence[str], database: str, threads: int | None = None
) -> tuple[DuckResult, Any]:
    """Silver then gold in DuckDB, timed separately. ``paths``: the bronze bodies and
    their sidecars (local files). Returns the result and the open connection."""
    import duckdb

    if any("/source=alphavantage/" in p for p in paths):
        raise ValueError("the DuckDB floor handles Yahoo-shaped bronze only")
    out = DuckResult()
    started = time.perf_counter()
    con = duckdb.connect(database)
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    for statement in silver_sql(paths, watchlist):
        con.execute(statement)
    actions = con.execute("SELECT count(*) FROM payloads WHERE NOT bad AND actions > 0")
    if actions.fetchone()[0]:
        # Spark turns them into rows of silver/corporate_actions and adjusts gold by them
        raise ValueError("the DuckDB floor does not model corporate actions (Yahoo events)")
    rows_in, accepted, quarantined, silver = con.execute(
        """SELECT (SELECT sum(expected_rows) FROM payloads),
                  (SELECT count(*) FROM classified WHERE rule IS NULL),
                  (SELECT count(*) FROM classified WHERE rule IS NOT NULL),
                  (SELECT count(*) FROM prices)"""
    ).fetchone()
    if int(rows_in or 0) != accepted + quarantined:
        raise RuntimeError(f"DuckDB conservation violated: {rows_in} != {accepted} + {quarantined}")
    out.by_rule = dict(
        con.execute("SELECT rule, count(*) FROM quarantine GROUP BY rule").fetchall()
    )
    out.seconds["silver"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    for statement in gold_sql():
        con.execute(statement)
    out.gold_rows = con.execute("SELECT count(*) FROM gold").fetchone()[0]
    con.execute("CHECKPOINT")
    out.seconds["gold"] = round(time.perf_counter() - started, 3)
    out.rows_in, out.rows_out, out.quarantined, out.silver_rows = (
        int(rows_in or 0),
        accepted,
        quarantined,
        silver,
    )
    return out, con


def cross_check(
    spark_rows: Sequence[dict[str, Any]], con: Any, rel_tol: float = 1e-9
) -> dict[str, Any]:
    """Compare every gold row and column of Spark with DuckDB's: numbers equal within
    ``rel_tol`` (relative, absolute for values near 0), the rest exactly."""
    cols = list(GOLD_COLUMNS)
    duck = {
        (r[0], r[1]): dict(zip(cols, r, strict=True))
        for r in con.execute(f"SELECT {', '.join(cols)} FROM gold").fetchall()
    }
    spark = {(r["symbol"], r["trade_date"]): r for r in spark_rows}
    mismatches: list[dict[str, Any]] = []
    compared = 0
    max_rel = 0.0
    for key in sorted(set(spark) | set(duck)):
        a, b = spark.get(key), duck.get(key)
        if a is None or b is None:
            mismatches.append({"key": str(key), "missing_in": "spark" if a is None else "duckdb"})
            continue
        for col in cols[2:]:
            x, y = a[col], b[col]
            compared += 1
            if x is None or y is None or isinstance(x, str) or col == "updated_at":
                same = x == y
            else:
                diff = abs(float(x) - float(y))
                rel = diff / max(abs(float(x)), abs(float(y)), 1.0)
                max_rel = max(max_rel, rel)
                same = rel <= rel_tol
            if not same and len(mismatches) < 20:
                mismatches.append(
                    {"key": str(key), "column": col, "spark": str(x), "duckdb": str(y)}
                )
    return {
        "rows_spark": len(spark),
        "rows_duckdb": len(duck),
        "values_compared": compared,
        "max_relative_difference": max_rel,
        "tolerance": rel_tol,
        "mismatches": mismatches,
        "equal": not mismatches and len(spark) == len(duck),
    }
