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
``error_payload``, ``unparseable_payload``, ``unknown_symbol``, ``null_timestamp``,
``unknown_timezone``, ``duplicate_timestamp`` (the same ts twice in one payload: the
*last* occurrence counts, earlier ones are quarantined), ``null_price``,
``non_positive_price``, ``high_below_low_open_close``, ``low_above_open_close``,
``null_volume``, ``negative_volume``.
"""

from __future__ import annotations

from collections.abc import Collection

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from medallion.transformer.schemas import (
    ALPHAVANTAGE_META_SCHEMA,
    ALPHAVANTAGE_SERIES_SCHEMA,
    ALPHAVANTAGE_TOP_SCHEMA,
    BRONZE_META_SCHEMA,
    YAHOO_SCHEMA,
)

RULES = (
    "error_payload",
    "unparseable_payload",
    "unknown_symbol",
    "null_timestamp",
    "unknown_timezone",
    "duplicate_timestamp",
    "null_price",
    "non_positive_price",
    "high_below_low_open_close",
    "low_above_open_close",
    "null_volume",
    "negative_volume",
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


def _zone(zone_name: Column, gmtoffset_s: Column, valid_zones: Collection[str]) -> Column:
    """The exchange's zone: its IANA name when known, else the fixed payload offset."""
    offset = gmtoffset_s.try_cast("int")
    as_offset = F.when(
        offset.isNotNull() & (F.abs(offset) < 18 * 3600),
        F.format_string(
            "%s%02d:%02d",
            F.when(offset < 0, F.lit("-")).otherwise(F.lit("+")),
            (F.abs(offset) / 3600).cast("int"),
            ((F.abs(offset) % 3600) / 60).cast("int"),
        ),
    )
    return F.when(zone_name.isin(list(valid_zones)), zone_name).otherwise(as_offset)


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
    zipped = F.arrays_zip(
        F.coalesce(result["timestamp"], empty).alias("ts"),
        F.coalesce(quote["open"], empty).alias("open"),
        F.coalesce(quote["high"], empty).alias("high"),
        F.coalesce(quote["low"], empty).alias("low"),
        F.coalesce(quote["close"], empty).alias("close"),
        F.coalesce(quote["volume"], empty).alias("volume"),
        F.coalesce(adj, empty).alias("adj_close"),
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
        _zone(
            result["meta"]["exchangeTimezoneName"], result["meta"]["gmtoffset"], valid_zones
        ).alias("zone"),
        result["meta"]["exchangeTimezoneName"].alias("exchange_tz"),
        result["meta"]["currency"].alias("currency"),
        F.when(payload_rule.isNull(), zipped).alias("bars"),
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
    zone = F.when(meta_zone.isin(list(valid_zones)), meta_zone)
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
        meta_zone.alias("exchange_tz"),
        F.lit(None).cast("string").alias("currency"),
        F.when(payload_rule.isNull(), bars).alias("bars"),
    )


def payloads(objects: DataFrame, valid_zones: Collection[str]) -> DataFrame:
    """Both sources' payload rows plus ``expected_rows`` (what conservation counts)."""
    is_av = F.col("source") == "alphavantage"
    yahoo = yahoo_payloads(objects.where(~is_av | F.col("source").isNull()), valid_zones)
    av = alphavantage_payloads(objects.where(is_av), valid_zones)
    both = yahoo.unionByName(av)
    return both.select(
        "*",
        F.when(F.col("payload_rule").isNotNull(), F.lit(1))
        .otherwise(F.size(F.col("bars")))
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
    ts_raw = F.col("bar.ts")
    # Yahoo: epoch seconds. Alpha Vantage: local "yyyy-MM-dd[ HH:mm:ss]" in the zone.
    epoch = ts_raw.try_cast("bigint")
    # outside 1900..2100 it is not a bar time (and would overflow the timestamp type)
    epoch = F.when(epoch.between(-2_208_988_800, 4_102_444_800), epoch)
    local = F.try_to_timestamp(ts_raw)
    ts = F.when(epoch.isNotNull(), F.timestamp_seconds(epoch)).when(
        local.isNotNull() & F.col("zone").isNotNull(), F.to_utc_timestamp(local, F.col("zone"))
    )
    trade_date = F.when(
        ts.isNotNull() & F.col("zone").isNotNull(),
        F.to_date(F.from_utc_timestamp(ts, F.col("zone"))),
    )
    return rows.select(
        F.col("object_key").alias("source_object"),
        F.col("bar_index").cast("int").alias("bar_index"),
        F.col("source"),
        F.col("symbol"),
        F.col("interval"),
        ts.alias("ts"),
        trade_date.alias("trade_date"),
        F.coalesce(F.col("exchange_tz"), F.col("zone")).alias("exchange_tz"),
        F.col("currency"),
        _double(F.col("bar.open")).alias("open"),
        _double(F.col("bar.high")).alias("high"),
        _double(F.col("bar.low")).alias("low"),
        _double(F.col("bar.close")).alias("close"),
        _double(F.col("bar.adj_close")).alias("adj_close"),
        _long(F.col("bar.volume")).alias("volume"),
        F.col("ingest_run"),
        F.col("ingested_at"),
        F.col("payload_rule"),
        F.col("detail"),
        # raw values kept only to tell "missing" from "not a number" in the rule detail
        F.col("bar.ts").alias("raw_ts"),
        F.col("zone"),
    )


# --------------------------------------------------------------------------- rules
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
        F.when(F.col("payload_rule").isNotNull(), F.col("payload_rule"))
        .when(
            ~F.col("symbol").isin(list(watchlist)) | F.col("symbol").isNull(),
            F.lit("unknown_symbol"),
        )
        .when(F.col("ts").isNull(), F.lit("null_timestamp"))
        .when(F.col("trade_date").isNull(), F.lit("unknown_timezone"))
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
        F.when(
            F.col("trade_date").isNull() & F.col("ts").isNotNull(),
            F.concat(F.lit("no usable zone: "), F.coalesce(F.col("exchange_tz"), F.lit(""))),
        ),
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


def silver_rows(classified: DataFrame) -> DataFrame:
    """Accepted rows, one per (symbol, interval, ts): what is MERGEd into silver/prices."""
    return classified.where(F.col("winner")).select(*PRICE_COLUMNS)


def quarantine_rows(classified: DataFrame, transform_run: str) -> DataFrame:
    return classified.where(F.col("rule").isNotNull()).select(
        *[c for c in QUARANTINE_COLUMNS if c != "transform_run"],
        F.lit(transform_run).alias("transform_run"),
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
