"""The floor: the same silver and gold logic in DuckDB, on the same bronze objects.

What a user would write instead for small data, kept faithful to the Spark jobs
(medallion.transformer.transform and medallion.aggregator.metrics) rule by rule:

silver
  * each body paired with its ``.meta.json`` sidecar; lineage from the key;
  * payload verdict: ``meta.error`` or ``chart.error`` -> ``error_payload``; no
    ``chart.result[0]`` (or not JSON) -> ``unparseable_payload``; a bad payload is one
    quarantined row (bar_index -1);
  * arrays exploded together by position (the length of the longest array, shorter ones
    padded with NULL, like ``arrays_zip``); numbers read as text and ``TRY_CAST``;
  * ts = epoch seconds as UTC; trade_date = the date in the exchange's zone
    (``exchangeTimezoneName`` when it is a known zone, else the payload's ``gmtoffset``);
  * rules in the same order (unknown_symbol, null_timestamp, unknown_timezone,
    duplicate_timestamp, null_price, non_positive_price, high_below_low_open_close,
    low_above_open_close, null_volume, negative_volume); conservation checked;
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

Alpha Vantage payloads are not handled here (the benchmark only produces Yahoo-shaped
bronze); :func:`run_duckdb` refuses them rather than guessing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from medallion.aggregator.metrics import GOLD_COLUMNS, INTERVAL_MINUTES
from medallion.transformer.transform import KEY_PATTERN

_YAHOO = (
    '{"chart":{"result":[{"meta":{"symbol":"VARCHAR","currency":"VARCHAR",'
    '"exchangeTimezoneName":"VARCHAR","gmtoffset":"VARCHAR"},"timestamp":["VARCHAR"],'
    '"indicators":{"quote":[{"open":["VARCHAR"],"high":["VARCHAR"],"low":["VARCHAR"],'
    '"close":["VARCHAR"],"volume":["VARCHAR"]}],"adjclose":[{"adjclose":["VARCHAR"]}]}}],'
    '"error":"VARCHAR"}}'
)


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _finite(column: str) -> str:
    """TRY_CAST to DOUBLE; NaN and +-Infinity are never prices: NULL (like the Spark job)."""
    value = f"TRY_CAST({column} AS DOUBLE)"
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

    @property
    def silver_gold_seconds(self) -> float:
        return round(self.seconds.get("silver", 0.0) + self.seconds.get("gold", 0.0), 3)


def silver_sql(paths: Sequence[str], watchlist: Sequence[str]) -> list[str]:
    """Statements that build ``prices`` and ``quarantine`` from bronze files (bodies and
    sidecars given together, like the Spark job's read)."""
    kp = KEY_PATTERN.replace("'", "''")
    fin_open, fin_high, fin_low, fin_close, fin_adj, fin_volume = (
        _finite(c) for c in ("r_open", "r_high", "r_low", "r_close", "r_adj", "r_volume")
    )
    watch = _sql_list(list(watchlist))
    return [
        f"""
CREATE OR REPLACE TEMP TABLE files AS
SELECT regexp_extract(filename, '{kp}', 1) AS key,
       regexp_extract(filename, '{kp}', 2) AS p_source,
       regexp_extract(filename, '{kp}', 3) AS p_symbol,
       regexp_extract(filename, '{kp}', 4) AS p_interval,
       regexp_extract(filename, '{kp}', 5) AS p_ingest_date,
       regexp_extract(filename, '{kp}', 7) AS p_run,
       regexp_extract(filename, '{kp}', 8) = '.meta' AS is_meta,
       content
FROM read_text({_sql_list(paths)})
""",
        """
CREATE OR REPLACE TEMP TABLE objects AS
WITH metas AS (
  SELECT regexp_replace(key, '\\.meta\\.json$', '.json') AS key,
         CASE WHEN json_valid(content) THEN content::JSON END AS m
  FROM files WHERE is_meta AND key <> ''
)
SELECT b.key AS object_key,
       coalesce(json_extract_string(m.m, '$.source'), b.p_source) AS source,
       upper(coalesce(json_extract_string(m.m, '$.symbol'), b.p_symbol)) AS symbol,
       coalesce(json_extract_string(m.m, '$.interval'), b.p_interval) AS interval,
       TRY_CAST(b.p_ingest_date AS DATE) AS ingest_date,
       coalesce(json_extract_string(m.m, '$.run_id'), b.p_run) AS ingest_run,
       TRY_CAST(json_extract_string(m.m, '$.fetched_at') AS TIMESTAMPTZ)::TIMESTAMP
         AS ingested_at,
       json_extract_string(m.m, '$.error') AS meta_error,
       json_extract_string(m.m, '$.error_message') AS meta_error_message,
       b.content AS body
FROM files b LEFT JOIN metas m ON m.key = b.key
WHERE NOT b.is_meta AND b.key <> ''
""",
        f"""
CREATE OR REPLACE TEMP TABLE payloads AS
WITH parsed AS (
  SELECT * EXCLUDE (body),
         CASE WHEN json_valid(body) THEN from_json(body, '{_YAHOO}') END AS doc
  FROM objects
), r AS (
  SELECT *, doc.chart.result[1] AS res, doc.chart.error AS chart_error FROM parsed
), q AS (
  SELECT *, res.indicators.quote[1] AS quote,
         res.indicators.adjclose[1].adjclose AS adj,
         TRY_CAST(res.meta.gmtoffset AS INTEGER) AS off,
         res.meta.exchangeTimezoneName AS tzname
  FROM r
), v AS (
  SELECT *,
    CASE WHEN meta_error IS NOT NULL THEN 'error_payload'
         WHEN chart_error IS NOT NULL THEN 'error_payload'
         WHEN res IS NULL THEN 'unparseable_payload' END AS payload_rule,
    CASE WHEN meta_error IS NOT NULL THEN concat_ws(': ', meta_error, meta_error_message)
         WHEN chart_error IS NOT NULL THEN chart_error
         WHEN res IS NULL THEN 'body is not a chart payload with a result' END AS detail,
    tzname IN (SELECT name FROM pg_timezone_names()) AS named_zone,
    CASE WHEN off IS NOT NULL AND abs(off) < 18 * 3600 THEN
      printf('%s%02d:%02d', CASE WHEN off < 0 THEN '-' ELSE '+' END,
             (abs(off) // 3600), ((abs(off) % 3600) // 60)) END AS offset_zone
  FROM q
)
SELECT object_key, source, symbol, interval, ingest_run, ingested_at, payload_rule, detail,
       CASE WHEN named_zone THEN tzname ELSE offset_zone END AS zone,
       coalesce(named_zone, false) AS named_zone,
       off, tzname AS exchange_tz, res.meta.currency AS currency,
       CASE WHEN payload_rule IS NULL THEN coalesce(res.timestamp, []) END AS a_ts,
       coalesce(quote.open, []) AS a_open, coalesce(quote.high, []) AS a_high,
       coalesce(quote.low, []) AS a_low, coalesce(quote.close, []) AS a_close,
       coalesce(quote.volume, []) AS a_volume, coalesce(adj, []) AS a_adj,
       CASE WHEN payload_rule IS NOT NULL THEN 1
            ELSE greatest(len(coalesce(res.timestamp, [])), len(coalesce(quote.open, [])),
                          len(coalesce(quote.high, [])), len(coalesce(quote.low, [])),
                          len(coalesce(quote.close, [])), len(coalesce(quote.volume, [])),
                          len(coalesce(adj, []))) END::BIGINT AS expected_rows
FROM v
""",
        f"""
CREATE OR REPLACE TEMP TABLE bars AS
WITH good AS (
  SELECT p.*, i AS bar_index
  FROM payloads p, LATERAL (SELECT unnest(range(p.expected_rows)) AS i)
  WHERE p.payload_rule IS NULL
), rows AS (
  SELECT object_key, bar_index, source, symbol, interval, zone, named_zone, off, exchange_tz,
         currency, ingest_run, ingested_at, payload_rule, detail,
         a_ts[bar_index + 1] AS raw_ts, a_open[bar_index + 1] AS r_open,
         a_high[bar_index + 1] AS r_high, a_low[bar_index + 1] AS r_low,
         a_close[bar_index + 1] AS r_close, a_volume[bar_index + 1] AS r_volume,
         a_adj[bar_index + 1] AS r_adj
  FROM good
  UNION ALL BY NAME
  SELECT object_key, -1 AS bar_index, source, symbol, interval, zone, named_zone, off,
         exchange_tz, currency, ingest_run, ingested_at, payload_rule, detail
  FROM payloads WHERE payload_rule IS NOT NULL
), epochs AS (
  SELECT *,
    -- outside 1900..2100 an epoch is not a bar time
    CASE WHEN TRY_CAST(raw_ts AS BIGINT) BETWEEN -2208988800 AND 4102444800
         THEN TRY_CAST(raw_ts AS BIGINT) END AS epoch
  FROM rows
), typed AS (
  SELECT *,
    CASE WHEN epoch IS NOT NULL THEN to_timestamp(epoch) AT TIME ZONE 'UTC'
         WHEN TRY_CAST(raw_ts AS TIMESTAMP) IS NOT NULL AND named_zone
           THEN timezone(zone, TRY_CAST(raw_ts AS TIMESTAMP)) AT TIME ZONE 'UTC'
    END AS ts,
    {fin_volume} AS v_double
  FROM epochs
)
SELECT object_key AS source_object, bar_index::INTEGER AS bar_index, source, symbol, interval,
       ts,
       CASE WHEN ts IS NULL THEN NULL
            WHEN named_zone THEN timezone(zone, timezone('UTC', ts))::DATE
            WHEN zone IS NOT NULL THEN (ts + to_seconds(off))::DATE END AS trade_date,
       coalesce(exchange_tz, zone) AS exchange_tz, currency,
       {fin_open} AS open, {fin_high} AS high, {fin_low} AS low, {fin_close} AS close,
       {fin_adj} AS adj_close,
       CASE WHEN TRY_CAST(v_double AS BIGINT)::DOUBLE = v_double
            THEN TRY_CAST(v_double AS BIGINT) END AS volume,
       ingest_run, ingested_at, payload_rule, detail, raw_ts
FROM typed
""",
        f"""
CREATE OR REPLACE TEMP TABLE classified AS
WITH d AS (
  SELECT *,
    ts IS NOT NULL AND lag(source_object) OVER (
      PARTITION BY symbol, interval, ts ORDER BY source_object, bar_index DESC
    ) = source_object AS dup
  FROM bars
), ruled AS (
  SELECT * EXCLUDE (dup, detail, raw_ts),
    CASE WHEN payload_rule IS NOT NULL THEN payload_rule
         WHEN symbol IS NULL OR NOT list_contains({watch}, symbol) THEN 'unknown_symbol'
         WHEN ts IS NULL THEN 'null_timestamp'
         WHEN trade_date IS NULL THEN 'unknown_timezone'
         WHEN dup THEN 'duplicate_timestamp'
         WHEN open IS NULL OR high IS NULL OR low IS NULL OR close IS NULL THEN 'null_price'
         WHEN coalesce(open <= 0 OR high <= 0 OR low <= 0 OR close <= 0 OR adj_close <= 0,
                       false) THEN 'non_positive_price'
         WHEN high < low OR high < open OR high < close THEN 'high_below_low_open_close'
         WHEN low > open OR low > close THEN 'low_above_open_close'
         WHEN volume IS NULL THEN 'null_volume'
         WHEN volume < 0 THEN 'negative_volume' END AS rule,
    coalesce(detail,
      CASE WHEN ts IS NULL AND raw_ts IS NOT NULL THEN 'unparseable ts ' || raw_ts END,
      CASE WHEN trade_date IS NULL AND ts IS NOT NULL
           THEN 'no usable zone: ' || coalesce(exchange_tz, '') END) AS detail
  FROM d
)
SELECT *,
  rule IS NULL AND row_number() OVER (
    PARTITION BY symbol, interval, ts
    ORDER BY (rule IS NULL) DESC, ingested_at DESC NULLS LAST, source_object DESC,
             bar_index DESC) = 1 AS winner
FROM ruled
""",
        """
CREATE OR REPLACE TABLE prices AS
SELECT symbol, interval, ts, trade_date, open, high, low, close, adj_close, volume, currency,
       exchange_tz, source, source_object, ingest_run, ingested_at
FROM classified WHERE winner
""",
        """
CREATE OR REPLACE TABLE quarantine AS
SELECT source_object, bar_index, rule, detail, source, symbol, interval, ts, trade_date,
       open, high, low, close, adj_close, volume, ingest_run, ingested_at
FROM classified WHERE rule IS NOT NULL
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
    rows_in, accepted, quarantined, silver = con.execute(
        """SELECT (SELECT sum(expected_rows) FROM payloads),
                  (SELECT count(*) FROM classified WHERE rule IS NULL),
                  (SELECT count(*) FROM classified WHERE rule IS NOT NULL),
                  (SELECT count(*) FROM prices)"""
    ).fetchone()
    if int(rows_in or 0) != accepted + quarantined:
        raise RuntimeError(f"DuckDB conservation violated: {rows_in} != {accepted} + {quarantined}")
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
