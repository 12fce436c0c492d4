"""Pure silver transformations: bronze objects -> bars -> rules -> silver / quarantine rows.

Every function takes DataFrames and plain values and returns a DataFrame; none reads
a path, the environment or a SparkSession. Each opens and closes with an explicit
``select`` (its schema contract).

Row accounting (the conservation law checked by the job): every bronze data object
contributes ``expected_rows`` = the number of bars in its payload, or exactly 1 when
the payload itself is bad (error body / unparseable) -- that one row is quarantined
with rule ``error_payload`` / ``unparseable_payload`` so no object is silently lost.
Every row of :func:`explode_bars` is then either accepted or quarantined.

Rules (the first one that fails names the quarantine row), in order:
``error_payload``, ``unparseable_payload``, ``array_length_mismatch`` (the timestamp
and indicator arrays of a payload differ in length: every bar *and* event of it is
quarantined, none reaches silver), ``unknown_symbol``, ``null_timestamp``,
``offset_only_timezone`` (no known zone name, only the payload's fixed ``gmtoffset``:
refused, because a fixed offset puts bars on the wrong local day across a
daylight-saving change), ``unknown_timezone``, ``duplicate_timestamp`` (the same ts
twice in one payload: the *last* occurrence counts, earlier ones are quarantined),
``null_price``, ``non_positive_price``, ``high_below_low_open_close``,
``low_above_open_close``, ``null_volume``, ``negative_volume``.

Corporate actions (Yahoo ``events``; Alpha Vantage's ``split coefficient`` != 1 and
``dividend amount`` != 0) are rows of their own, counted by conservation like bars:
``expected_rows`` = bars + actions of a good payload. Their rules, in order:
``array_length_mismatch``, ``unknown_symbol``, ``null_timestamp``,
``offset_only_timezone``, ``unknown_timezone``, ``invalid_split_ratio`` (numerator or
denominator missing, not a number or not > 0), ``invalid_dividend_amount`` (missing, not
a number or not > 0).
"""

from __future__ import annotations

from collections.abc import Collection

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from medallion.common.delta import with_derived
from medallion.transformer.schemas import (
    ALPHAVANTAGE_META_SCHEMA,
    ALPHAVANTAGE_SERIES_SCHEMA,
    ALPHAVANTAGE_TOP_SCHEMA,
    BRONZE_META_SCHEMA,
    PRICES,
    YAHOO_SCHEMA,
)

RULES = (
    "error_payload",
    "unparseable_payload",
    "array_length_mismatch",
    "unknown_symbol",
    "null_timestamp",
    "offset_only_timezone",
    "unknown_timezone",
    "duplicate_timestamp",
    "null_price",
    "non_positive_price",
    "high_below_low_open_close",
    "low_above_open_close",
    "null_volume",
    "negative_volume",
    "invalid_split_ratio",
    "invalid_dividend_amount",
)

ACTION_STRUCT = (
    "struct<kind:string,ts:string,numerator:string,denominator:string,amount:string>"
)

KEY_PATTERN = (
    r"(bronze/source=([^/]+)/symbol=([^/]+)/interval=([^/]+)/ingest_date=([^/]+)/"
    r"(([^/]+)-[0-9a-fA-F]+)(\.meta)?\.json)$"
)

OBJECT_COLUMNS = (
    "object_key",
    "source",
    "symbol",
    "interval",
    "ingest_date",
    "ingest_run",
    "ingested_at",
    "meta_error",
    "meta_error_message",
    "body",
)

BAR_COLUMNS = (
    "source_object",
    "bar_index",
    "source",
    "symbol",
    "interval",
    "ts",
    "trade_date",
    "exchange_tz",
    "currency",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "ingest_run",
    "ingested_at",
    "payload_rule",
    "detail",
)

PRICE_COLUMNS = (
    "symbol",
    "interval",
    "ts",
    "trade_date",
    "trade_month",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "currency",
    "exchange_tz",
    "source",
    "source_object",
    "ingest_run",
    "ingested_at",
)

QUARANTINE_COLUMNS = (
    "source_object",
    "bar_index",
    "rule",
    "detail",
    "source",
    "symbol",
    "interval",
    "ts",
    "trade_date",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "ingest_run",
    "ingested_at",
    "transform_run",
    "record",
)

ACTION_COLUMNS = (
    "symbol",
    "kind",
    "ex_date",
    "ex_ts",
    "numerator",
    "denominator",
    "ratio",
    "amount",
    "currency",
    "exchange_tz",
    "source",
    "source_object",
    "ingest_run",
    "ingested_at",
)

CLASSIFIED_ACTION_COLUMNS = (
    "source_object",
    "action_index",
    *[c for c in ACTION_COLUMNS if c != "source_object"],
    "rule",
    "detail",
    "winner",
)


# --------------------------------------------------------------------------- objects
def bronze_objects(raw: DataFrame) -> DataFrame:
    """Pair each bronze body with its ``.meta.json`` sidecar.

    ``raw``: (path string, value string) -- one row per file as read with
    ``wholetext``; paths may be URIs (``file:/...``, ``s3a://...``), possibly
    URL-encoded. Returns one row per data object with :data:`OBJECT_COLUMNS`.
    """
    files = raw.select(
        F.regexp_extract(F.col("path"), KEY_PATTERN, 1).alias("key"),
        F.regexp_extract(F.col("path"), KEY_PATTERN, 2).alias("p_source"),
        F.regexp_extract(F.col("path"), KEY_PATTERN, 3).alias("p_symbol"),
        F.regexp_extract(F.col("path"), KEY_PATTERN, 4).alias("p_interval"),
        F.regexp_extract(F.col("path"), KEY_PATTERN, 5).alias("p_ingest_date"),
        F.regexp_extract(F.col("path"), KEY_PATTERN, 7).alias("p_run"),
        (F.regexp_extract(F.col("path"), KEY_PATTERN, 8) == ".meta").alias("is_meta"),
        F.col("value"),
    ).where(F.col("key") != "")
    bodies = files.where(~F.col("is_meta")).drop("is_meta")
    metas = files.where(F.col("is_meta")).select(
        F.regexp_replace(F.col("key"), r"\.meta\.json$", ".json").alias("key"),
        F.from_json(F.col("value"), BRONZE_META_SCHEMA).alias("meta"),
    )
    joined = bodies.join(F.broadcast(metas), on="key", how="left")
    return joined.select(
        F.col("key").alias("object_key"),
        F.coalesce(F.col("meta.source"), F.col("p_source")).alias("source"),
        F.upper(F.coalesce(F.col("meta.symbol"), F.col("p_symbol"))).alias("symbol"),
        F.coalesce(F.col("meta.interval"), F.col("p_interval")).alias("interval"),
        F.to_date(F.col("p_ingest_date")).alias("ingest_date"),
        F.coalesce(F.col("meta.run_id"), F.col("p_run")).alias("ingest_run"),
        F.try_to_timestamp(F.col("meta.fetched_at")).alias("ingested_at"),
        F.col("meta.error").alias("meta_error"),
        F.col("meta.error_message").alias("meta_error_message"),
        F.col("value").alias("body"),
    )


# --------------------------------------------------------------------------- payloads
def _get(map_col: Column, key: str) -> Column:
    """Map lookup that yields NULL for a missing key (ANSI element_at would raise)."""
    return F.try_element_at(map_col, F.lit(key))


def _double(col: Column) -> Column:
    # NaN / Infinity are JSON-parseable but never prices: treat them as missing.
    value = col.try_cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) < F.lit(float("inf"))), value)


def _long(col: Column) -> Column:
    # "123" and "123.0" are volumes; "1.5" is not (null -> quarantined as null_volume).
    as_double = _double(col)
    as_long = as_double.try_cast("bigint")
    return F.when(as_long.cast("double") == as_double, as_long)


def _zone(zone_name: Column, valid_zones: Collection[str]) -> Column:
    """The exchange's zone: its IANA name when the JVM knows it, else NULL.

    The payload's ``gmtoffset`` is deliberately not a fallback: it is the offset at
    fetch time, so across a daylight-saving change it puts bars near midnight on the
    wrong local day. A payload with only an offset is quarantined
    (``offset_only_timezone``).

    The JVM's ~600 zone ids go in as ONE string literal that the optimizer folds into an
    array: ``isin`` would send each id to the JVM as its own literal (1,200 Py4J calls
    for the two formats, ~0.5 s of every transform, profiled)."""
    if not valid_zones:
        return F.lit(None).cast("string")
    # A zone id never holds a comma (IANA names, Etc/GMT+3, EST5EDT). array_contains scans
    # the ~600 ids (isin became a hash lookup): fine once per payload, not for every bar.
    known = F.split(F.lit(",".join(sorted(valid_zones))), ",")
    return F.when(F.array_contains(known, zone_name), zone_name)


def _fixed_offset(gmtoffset_s: Column) -> Column:
    offset = gmtoffset_s.try_cast("int")
    return F.when(offset.isNotNull() & (F.abs(offset) < 18 * 3600), offset)


def _instant(raw_ts: Column, zone: Column) -> Column:
    """Yahoo: epoch seconds. Alpha Vantage: local ``yyyy-MM-dd[ HH:mm:ss]`` in the zone."""
    epoch = raw_ts.try_cast("bigint")
    # outside 1900..2100 it is not a bar time (and would overflow the timestamp type)
    epoch = F.when(epoch.between(-2_208_988_800, 4_102_444_800), epoch)
    local = F.try_to_timestamp(raw_ts)
    return F.when(epoch.isNotNull(), F.timestamp_seconds(epoch)).when(
        local.isNotNull() & zone.isNotNull(), F.to_utc_timestamp(local, zone)
    )


def _local_date(ts: Column, zone: Column) -> Column:
    return F.when(ts.isNotNull() & zone.isNotNull(), F.to_date(F.from_utc_timestamp(ts, zone)))


def _shape(ts: Column, arrays: dict[str, Column]) -> tuple[Column, Column]:
    """(``array_length_mismatch`` or NULL, a detail listing every length)."""
    sizes = {"timestamp": F.size(ts), **{k: F.size(v) for k, v in arrays.items()}}
    mismatch = F.lit(False)
    for name, size in sizes.items():
        if name != "timestamp":
            mismatch = mismatch | (size != sizes["timestamp"])
    detail = F.concat_ws(
        ", ", *[F.concat(F.lit(f"{k} "), v.cast("string")) for k, v in sizes.items()]
    )
    return (
        F.when(mismatch, F.lit("array_length_mismatch")),
        F.when(mismatch, F.concat(F.lit("array lengths differ: "), detail)),
    )


def yahoo_payloads(objects: DataFrame, valid_zones: Collection[str]) -> DataFrame:
    """One row per Yahoo-format object: the zipped bar array and a payload verdict."""
    parsed = objects.select(
        *[F.col(c) for c in OBJECT_COLUMNS if c != "body"],
        F.from_json(F.col("body"), YAHOO_SCHEMA).alias("doc"),
    )
    result = F.try_element_at(F.col("doc.chart.result"), F.lit(1))
    quote = F.try_element_at(result["indicators"]["quote"], F.lit(1))
    adj = F.try_element_at(result["indicators"]["adjclose"], F.lit(1))["adjclose"]
    empty = F.array().cast("array<string>")
    stamps = F.coalesce(result["timestamp"], empty)
    arrays = {n: F.coalesce(quote[n], empty) for n in ("open", "high", "low", "close", "volume")}
    # adjclose is optional (intraday has none); when present it must line up too
    shape_rule, shape_detail = _shape(stamps, {**arrays, "adjclose": F.coalesce(adj, stamps)})
    zipped = F.arrays_zip(
        stamps.alias("ts"),
        *[a.alias(n) for n, a in arrays.items()],
        F.coalesce(adj, empty).alias("adj_close"),
    )
    events = result["events"]
    splits = F.transform(
        F.coalesce(F.map_values(events["splits"]), F.array().cast("array<struct<date:string,"
                   "numerator:string,denominator:string,splitRatio:string>>")),
        lambda e: F.struct(
            F.lit("split").alias("kind"),
            e["date"].alias("ts"),
            F.coalesce(
                e["numerator"], F.regexp_extract(e["splitRatio"], r"^\s*([^:/]+)\s*[:/]", 1)
            ).alias("numerator"),
            F.coalesce(
                e["denominator"], F.regexp_extract(e["splitRatio"], r"[:/]\s*(.+?)\s*$", 1)
            ).alias("denominator"),
            F.lit(None).cast("string").alias("amount"),
        ),
    )
    dividends = F.transform(
        F.coalesce(
            F.map_values(events["dividends"]),
            F.array().cast("array<struct<date:string,amount:string>>"),
        ),
        lambda e: F.struct(
            F.lit("dividend").alias("kind"),
            e["date"].alias("ts"),
            F.lit(None).cast("string").alias("numerator"),
            F.lit(None).cast("string").alias("denominator"),
            e["amount"].alias("amount"),
        ),
    )
    payload_rule = (
        F.when(F.col("meta_error").isNotNull(), F.lit("error_payload"))
        .when(F.col("doc.chart.error").isNotNull(), F.lit("error_payload"))
        .when(result.isNull(), F.lit("unparseable_payload"))
    )
    detail = (
        F.when(
            F.col("meta_error").isNotNull(),
            F.concat_ws(": ", F.col("meta_error"), F.col("meta_error_message")),
        )
        .when(F.col("doc.chart.error").isNotNull(), F.col("doc.chart.error"))
        .when(result.isNull(), F.lit("body is not a chart payload with a result"))
    )
    return parsed.select(
        F.col("object_key"),
        F.col("source"),
        F.col("symbol"),
        F.col("interval"),
        F.col("ingest_run"),
        F.col("ingested_at"),
        payload_rule.alias("payload_rule"),
        detail.alias("detail"),
        _zone(result["meta"]["exchangeTimezoneName"], valid_zones).alias("zone"),
        _fixed_offset(result["meta"]["gmtoffset"]).alias("gmtoffset"),
        result["meta"]["exchangeTimezoneName"].alias("exchange_tz"),
        result["meta"]["currency"].alias("currency"),
        F.when(payload_rule.isNull(), zipped).alias("bars"),
        F.when(payload_rule.isNull(), F.concat(splits, dividends)).alias("actions"),
        F.when(payload_rule.isNull(), shape_rule).alias("shape_rule"),
        F.when(payload_rule.isNull(), shape_detail).alias("shape_detail"),
    )


def alphavantage_payloads(objects: DataFrame, valid_zones: Collection[str]) -> DataFrame:
    """One row per Alpha Vantage object (daily or intraday series), same shape as Yahoo's.

    A daily bar's ts is local midnight of its date in the series' zone, converted to UTC;
    an intraday key ``yyyy-MM-dd HH:mm:ss`` is local time in that zone.
    """
    top = F.from_json(F.col("body"), ALPHAVANTAGE_TOP_SCHEMA)
    parsed = objects.select(*[F.col(c) for c in OBJECT_COLUMNS if c != "body"], top.alias("top"))
    series_key = F.try_element_at(
        F.filter(F.map_keys(F.col("top")), lambda k: k.startswith("Time Series")), F.lit(1)
    )
    meta = F.from_json(_get(F.col("top"), "Meta Data"), ALPHAVANTAGE_META_SCHEMA)
    meta_zone = F.try_element_at(
        F.map_values(F.map_filter(meta, lambda k, _v: k.endswith("Time Zone"))), F.lit(1)
    )
    series = F.from_json(F.try_element_at(F.col("top"), series_key), ALPHAVANTAGE_SERIES_SCHEMA)
    # "1. open" -> "open", "5. adjusted close" -> "adjusted close"
    entries = F.transform(
        F.map_entries(series),
        lambda e: F.struct(
            e["key"].alias("ts"),
            F.transform_keys(
                e["value"], lambda k, _v: F.regexp_replace(k, r"^[0-9]+\.\s*", "")
            ).alias("v"),
        ),
    )
    bars = F.transform(
        entries,
        lambda e: F.struct(
            e["ts"].alias("ts"),
            _get(e["v"], "open").alias("open"),
            _get(e["v"], "high").alias("high"),
            _get(e["v"], "low").alias("low"),
            _get(e["v"], "close").alias("close"),
            _get(e["v"], "volume").alias("volume"),
            _get(e["v"], "adjusted close").alias("adj_close"),
        ),
    )
    # TIME_SERIES_DAILY_ADJUSTED: a split coefficient other than 1 / a dividend other than
    # 0 on a day is an action with that ex-date (a malformed value is kept: quarantined).
    coefficient = lambda e: _get(e["v"], "split coefficient")  # noqa: E731
    dividend = lambda e: _get(e["v"], "dividend amount")  # noqa: E731
    av_splits = F.transform(
        F.filter(
            entries,
            lambda e: coefficient(e).isNotNull()
            & F.coalesce(coefficient(e).try_cast("double") != 1.0, F.lit(True)),
        ),
        lambda e: F.struct(
            F.lit("split").alias("kind"),
            e["ts"].alias("ts"),
            coefficient(e).alias("numerator"),
            F.lit("1").alias("denominator"),
            F.lit(None).cast("string").alias("amount"),
        ),
    )
    av_dividends = F.transform(
        F.filter(
            entries,
            lambda e: dividend(e).isNotNull()
            & F.coalesce(dividend(e).try_cast("double") != 0.0, F.lit(True)),
        ),
        lambda e: F.struct(
            F.lit("dividend").alias("kind"),
            e["ts"].alias("ts"),
            F.lit(None).cast("string").alias("numerator"),
            F.lit(None).cast("string").alias("denominator"),
            dividend(e).alias("amount"),
        ),
    )
    error_text = F.coalesce(
        _get(F.col("top"), "Error Message"),
        _get(F.col("top"), "Information"),
        _get(F.col("top"), "Note"),
    )
    payload_rule = (
        F.when(F.col("meta_error").isNotNull(), F.lit("error_payload"))
        .when(error_text.isNotNull(), F.lit("error_payload"))
        .when(series.isNull(), F.lit("unparseable_payload"))
    )
    detail = F.when(
        F.col("meta_error").isNotNull(),
        F.concat_ws(": ", F.col("meta_error"), F.col("meta_error_message")),
    ).otherwise(F.coalesce(error_text, F.when(series.isNull(), F.lit("no time series"))))
    zone = _zone(meta_zone, valid_zones)
    return parsed.select(
        F.col("object_key"),
        F.col("source"),
        F.col("symbol"),
        F.col("interval"),
        F.col("ingest_run"),
        F.col("ingested_at"),
        payload_rule.alias("payload_rule"),
        detail.alias("detail"),
        zone.alias("zone"),
        F.lit(None).cast("int").alias("gmtoffset"),
        meta_zone.alias("exchange_tz"),
        F.lit(None).cast("string").alias("currency"),
        F.when(payload_rule.isNull(), bars).alias("bars"),
        F.when(payload_rule.isNull(), F.concat(av_splits, av_dividends)).alias("actions"),
        F.lit(None).cast("string").alias("shape_rule"),
        F.lit(None).cast("string").alias("shape_detail"),
    )


def payloads(objects: DataFrame, valid_zones: Collection[str]) -> DataFrame:
    """Both sources' payload rows plus ``expected_rows`` (what conservation counts:
    bars + corporate actions of a good payload, 1 for a bad one)."""
    is_av = F.col("source") == "alphavantage"
    yahoo = yahoo_payloads(objects.where(~is_av | F.col("source").isNull()), valid_zones)
    av = alphavantage_payloads(objects.where(is_av), valid_zones)
    both = yahoo.unionByName(av)
    return both.select(
        "*",
        F.when(F.col("payload_rule").isNotNull(), F.lit(1))
        .otherwise(F.size(F.col("bars")) + F.size(F.col("actions")))
        .cast("long")
        .alias("expected_rows"),
    )


def explode_bars(payload_rows: DataFrame) -> DataFrame:
    """One row per bar, all arrays exploded together (each bar keeps its own prices);
    a bad payload yields exactly one row (bar_index -1) carrying its payload_rule."""
    bad = payload_rows.where(F.col("payload_rule").isNotNull()).select(
        "*",
        F.lit(-1).alias("bar_index"),
        F.lit(None)
        .cast(
            "struct<ts:string,open:string,high:string,low:string,close:string,"
            "volume:string,adj_close:string>"
        )
        .alias("bar"),
    )
    good = payload_rows.where(F.col("payload_rule").isNull()).select(
        "*", F.posexplode(F.col("bars")).alias("bar_index", "bar")
    )
    rows = bad.unionByName(good)
    ts = _instant(F.col("bar.ts"), F.col("zone"))
    trade_date = _local_date(ts, F.col("zone"))
    return rows.select(
        F.col("object_key").alias("source_object"),
        F.col("bar_index").cast("int").alias("bar_index"),
        F.col("source"),
        F.col("symbol"),
        F.col("interval"),
        ts.alias("ts"),
        trade_date.alias("trade_date"),
        F.coalesce(F.col("zone"), F.col("exchange_tz")).alias("exchange_tz"),
        F.col("currency"),
        _double(F.col("bar.open")).alias("open"),
        _double(F.col("bar.high")).alias("high"),
        _double(F.col("bar.low")).alias("low"),
        _double(F.col("bar.close")).alias("close"),
        _double(F.col("bar.adj_close")).alias("adj_close"),
        _long(F.col("bar.volume")).alias("volume"),
        F.col("ingest_run"),
        F.col("ingested_at"),
        F.coalesce(F.col("payload_rule"), F.col("shape_rule")).alias("payload_rule"),
        F.coalesce(F.col("detail"), F.col("shape_detail")).alias("detail"),
        # raw values kept only to tell "missing" from "not a number" in the rule detail
        F.col("bar.ts").alias("raw_ts"),
        F.col("zone"),
        F.col("gmtoffset"),
    )


# --------------------------------------------------------------------------- rules
def _record_rules(
    earlier_rule: str, ts: str, local_date: str, watchlist: Collection[str]
) -> Column:
    """The quarantine rules bars and corporate actions share, in order: a rule found earlier
    (the payload's shape), a symbol outside the watchlist, no timestamp, a zone given only as
    a fixed offset, no exchange-local date. Callers chain their own rules after these."""
    return (
        F.when(F.col(earlier_rule).isNotNull(), F.col(earlier_rule))
        .when(
            ~F.col("symbol").isin(list(watchlist)) | F.col("symbol").isNull(),
            F.lit("unknown_symbol"),
        )
        .when(F.col(ts).isNull(), F.lit("null_timestamp"))
        .when(
            F.col("zone").isNull() & F.col("gmtoffset").isNotNull(), F.lit("offset_only_timezone")
        )
        .when(F.col(local_date).isNull(), F.lit("unknown_timezone"))
    )


def classify(bars: DataFrame, watchlist: Collection[str]) -> DataFrame:
    """Add ``rule`` (null = accepted) and ``winner`` (the row MERGEd for its key).

    Both windows share one partitioning (symbol, interval, ts), so one shuffle serves
    the duplicate check and the in-batch de-duplication.
    """
    by_key = Window.partitionBy("symbol", "interval", "ts")
    in_object = by_key.orderBy(F.col("source_object"), F.col("bar_index").desc())
    dup = F.col("ts").isNotNull() & (
        F.lag("source_object", 1).over(in_object) == F.col("source_object")
    )
    prices = [F.col(c) for c in ("open", "high", "low", "close")]
    any_null_price = F.lit(False)
    non_positive = F.col("adj_close") <= 0
    for p in prices:
        any_null_price = any_null_price | p.isNull()
        non_positive = non_positive | (p <= 0)
    rule = (
        _record_rules("payload_rule", "ts", "trade_date", watchlist)
        .when(dup, F.lit("duplicate_timestamp"))
        .when(any_null_price, F.lit("null_price"))
        .when(F.coalesce(non_positive, F.lit(False)), F.lit("non_positive_price"))
        .when(
            (F.col("high") < F.col("low"))
            | (F.col("high") < F.col("open"))
            | (F.col("high") < F.col("close")),
            F.lit("high_below_low_open_close"),
        )
        .when(
            (F.col("low") > F.col("open")) | (F.col("low") > F.col("close")),
            F.lit("low_above_open_close"),
        )
        .when(F.col("volume").isNull(), F.lit("null_volume"))
        .when(F.col("volume") < 0, F.lit("negative_volume"))
    )
    detail = F.coalesce(
        F.col("detail"),
        F.when(
            F.col("ts").isNull() & F.col("raw_ts").isNotNull(),
            F.concat(F.lit("unparseable ts "), F.col("raw_ts")),
        ),
        _zone_detail(),
    )
    ruled = bars.select(
        *[c for c in BAR_COLUMNS if c != "detail"], detail.alias("detail"), rule.alias("rule")
    )
    # The newest fetch wins a key: ingested_at, then object key, then position.
    newest = by_key.orderBy(
        F.col("rule").isNull().desc(),
        F.col("ingested_at").desc_nulls_last(),
        F.col("source_object").desc(),
        F.col("bar_index").desc(),
    )
    winner = F.col("rule").isNull() & (F.row_number().over(newest) == 1)
    return ruled.select(*BAR_COLUMNS, "rule", winner.alias("winner"))


def _zone_detail() -> Column:
    return F.when(
        F.col("ts").isNotNull() & F.col("zone").isNull() & F.col("gmtoffset").isNotNull(),
        F.format_string(
            "zone name %s unknown; gmtoffset %d is a fixed offset, wrong across "
            "daylight-saving changes",
            F.coalesce(F.col("exchange_tz"), F.lit("missing")),
            F.col("gmtoffset"),
        ),
    ).when(
        F.col("trade_date").isNull() & F.col("ts").isNotNull(),
        F.concat(F.lit("no usable zone: "), F.coalesce(F.col("exchange_tz"), F.lit(""))),
    )


def silver_rows(classified: DataFrame) -> DataFrame:
    """Accepted rows, one per (symbol, interval, ts): what is MERGEd into silver/prices."""
    return with_derived(classified.where(F.col("winner")), PRICES).select(*PRICE_COLUMNS)


def quarantine_rows(classified: DataFrame, transform_run: str) -> DataFrame:
    return classified.where(F.col("rule").isNotNull()).select(
        *[c for c in QUARANTINE_COLUMNS if c not in ("transform_run", "record")],
        F.lit(transform_run).alias("transform_run"),
        F.lit("bar").alias("record"),
    )


# --------------------------------------------------------------------------- actions
def explode_actions(payload_rows: DataFrame) -> DataFrame:
    """One row per corporate action of a good payload (a bad payload has none: its one
    row is counted by :func:`explode_bars`)."""
    rows = payload_rows.where(F.col("payload_rule").isNull()).select(
        "*", F.posexplode(F.col("actions")).alias("action_index", "action")
    )
    ex_ts = _instant(F.col("action.ts"), F.col("zone"))
    numerator = _double(F.col("action.numerator"))
    denominator = _double(F.col("action.denominator"))
    return rows.select(
        F.col("object_key").alias("source_object"),
        F.col("action_index").cast("int").alias("action_index"),
        F.col("symbol"),
        F.col("action.kind").alias("kind"),
        _local_date(ex_ts, F.col("zone")).alias("ex_date"),
        ex_ts.alias("ex_ts"),
        numerator.alias("numerator"),
        denominator.alias("denominator"),
        F.when(denominator > 0, numerator / denominator).alias("ratio"),
        _double(F.col("action.amount")).alias("amount"),
        F.col("currency"),
        F.coalesce(F.col("zone"), F.col("exchange_tz")).alias("exchange_tz"),
        F.col("source"),
        F.col("ingest_run"),
        F.col("ingested_at"),
        F.col("shape_rule"),
        F.col("shape_detail"),
        F.col("action").alias("raw"),
        F.col("zone"),
        F.col("gmtoffset"),
    )


def classify_actions(actions: DataFrame, watchlist: Collection[str]) -> DataFrame:
    """Add ``rule`` (null = accepted), ``detail`` and ``winner`` (the newest fetch of a
    (symbol, kind, ex_date): what is MERGEd into silver/corporate_actions)."""
    split = F.col("kind") == "split"
    bad_ratio = (
        F.col("numerator").isNull()
        | F.col("denominator").isNull()
        | (F.col("numerator") <= 0)
        | (F.col("denominator") <= 0)
    )
    bad_amount = F.col("amount").isNull() | (F.col("amount") <= 0)
    rule = (
        _record_rules("shape_rule", "ex_ts", "ex_date", watchlist)
        .when(split & bad_ratio, F.lit("invalid_split_ratio"))
        .when(~split & bad_amount, F.lit("invalid_dividend_amount"))
    )
    detail = F.coalesce(
        F.col("shape_detail"),
        F.format_string(
            "%s ts=%s numerator=%s denominator=%s amount=%s",
            F.col("kind"),
            F.col("raw.ts"),
            F.col("raw.numerator"),
            F.col("raw.denominator"),
            F.col("raw.amount"),
        ),
    )
    ruled = actions.select(
        *[c for c in CLASSIFIED_ACTION_COLUMNS if c not in ("rule", "detail", "winner")],
        rule.alias("rule"),
        detail.alias("detail"),
    )
    newest = Window.partitionBy("symbol", "kind", "ex_date").orderBy(
        F.col("rule").isNull().desc(),
        F.col("ingested_at").desc_nulls_last(),
        F.col("source_object").desc(),
        F.col("action_index").desc(),
    )
    winner = F.col("rule").isNull() & (F.row_number().over(newest) == 1)
    return ruled.select(*CLASSIFIED_ACTION_COLUMNS[:-1], winner.alias("winner"))


def action_rows(classified_actions: DataFrame) -> DataFrame:
    """Accepted actions, one per (symbol, kind, ex_date): MERGEd into corporate_actions."""
    return classified_actions.where(F.col("winner")).select(*ACTION_COLUMNS)


def action_quarantine_rows(classified_actions: DataFrame, transform_run: str) -> DataFrame:
    return classified_actions.where(F.col("rule").isNotNull()).select(
        F.col("source_object"),
        F.col("action_index").alias("bar_index"),
        F.col("rule"),
        F.col("detail"),
        F.col("source"),
        F.col("symbol"),
        F.lit(None).cast("string").alias("interval"),
        F.col("ex_ts").alias("ts"),
        F.col("ex_date").alias("trade_date"),
        *[F.lit(None).cast("double").alias(c) for c in ("open", "high", "low", "close")],
        F.lit(None).cast("double").alias("adj_close"),
        F.lit(None).cast("bigint").alias("volume"),
        F.col("ingest_run"),
        F.col("ingested_at"),
        F.lit(transform_run).alias("transform_run"),
        F.col("kind").alias("record"),
    )


def object_counts(classified: DataFrame) -> DataFrame:
    """Per bronze object: accepted and quarantined rows (accepted counts superseded
    duplicates from other objects too: they passed every rule)."""
    return (
        classified.groupBy("source_object")
        .agg(
            F.count_if(F.col("rule").isNull()).alias("rows_accepted"),
            F.count_if(F.col("rule").isNotNull()).alias("rows_quarantined"),
        )
        .select("source_object", "rows_accepted", "rows_quarantined")
    )
