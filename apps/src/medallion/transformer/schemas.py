"""Explicit schemas: the bronze payloads as read, and the silver Delta tables.

Numbers inside the payload arrays are read as strings and converted with
``try_cast`` afterwards, so a stray ``"abc"`` or an overflow nulls one value (and the
bar is quarantined) instead of nulling the whole payload.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from medallion.common.delta import TableSpec

_S = StringType()

# Yahoo chart API (/v8/finance/chart/{symbol}); also what the synthetic source writes.
YAHOO_SCHEMA = StructType(
    [
        StructField(
            "chart",
            StructType(
                [
                    StructField(
                        "result",
                        ArrayType(
                            StructType(
                                [
                                    StructField(
                                        "meta",
                                        StructType(
                                            [
                                                StructField("symbol", _S),
                                                StructField("currency", _S),
                                                StructField("exchangeTimezoneName", _S),
                                                StructField("gmtoffset", _S),
                                                StructField("dataGranularity", _S),
                                            ]
                                        ),
                                    ),
                                    StructField("timestamp", ArrayType(_S)),
                                    StructField(
                                        "events",
                                        StructType(
                                            [
                                                StructField(
                                                    "splits",
                                                    MapType(
                                                        _S,
                                                        StructType(
                                                            [
                                                                StructField("date", _S),
                                                                StructField("numerator", _S),
                                                                StructField("denominator", _S),
                                                                StructField("splitRatio", _S),
                                                            ]
                                                        ),
                                                    ),
                                                ),
                                                StructField(
                                                    "dividends",
                                                    MapType(
                                                        _S,
                                                        StructType(
                                                            [
                                                                StructField("date", _S),
                                                                StructField("amount", _S),
                                                            ]
                                                        ),
                                                    ),
                                                ),
                                            ]
                                        ),
                                    ),
                                    StructField(
                                        "indicators",
                                        StructType(
                                            [
                                                StructField(
                                                    "quote",
                                                    ArrayType(
                                                        StructType(
                                                            [
                                                                StructField(n, ArrayType(_S))
                                                                for n in (
                                                                    "open",
                                                                    "high",
                                                                    "low",
                                                                    "close",
                                                                    "volume",
                                                                )
                                                            ]
                                                        )
                                                    ),
                                                ),
                                                StructField(
                                                    "adjclose",
                                                    ArrayType(
                                                        StructType(
                                                            [StructField("adjclose", ArrayType(_S))]
                                                        )
                                                    ),
                                                ),
                                            ]
                                        ),
                                    ),
                                ]
                            )
                        ),
                    ),
                    StructField("error", _S),
                ]
            ),
        )
    ]
)

# Alpha Vantage: top-level object read as a map so any "Time Series (...)" key and the
# error keys ("Error Message", "Information", "Note") are all reachable.
ALPHAVANTAGE_TOP_SCHEMA = MapType(_S, _S)
ALPHAVANTAGE_SERIES_SCHEMA = MapType(_S, MapType(_S, _S))
ALPHAVANTAGE_META_SCHEMA = MapType(_S, _S)

# Sidecar `.meta.json` written by the ingestor (see /work/team/api-bronze.md).
BRONZE_META_SCHEMA = StructType(
    [
        StructField("source", _S),
        StructField("symbol", _S),
        StructField("interval", _S),
        StructField("run_id", _S),
        StructField("fetched_at", _S),
        StructField("status", _S),
        StructField("sha256", _S),
        StructField("error", _S),
        StructField("error_message", _S),
    ]
)

# One row per parsed bar (or per payload that yields no bars because it is bad):
# the common shape both sources are mapped to before the rules run.
BAR_SCHEMA = StructType(
    [
        StructField("source_object", _S, False),
        StructField("bar_index", IntegerType(), False),
        StructField("source", _S),
        StructField("symbol", _S),
        StructField("interval", _S),
        StructField("ts", TimestampType()),
        StructField("exchange_tz", _S),
        StructField("currency", _S),
        StructField("open", DoubleType()),
        StructField("high", DoubleType()),
        StructField("low", DoubleType()),
        StructField("close", DoubleType()),
        StructField("adj_close", DoubleType()),
        StructField("volume", LongType()),
        StructField("ingest_run", _S),
        StructField("ingested_at", TimestampType()),
        StructField("payload_rule", _S),
        StructField("detail", _S),
    ]
)

# silver/prices' partition column: the first day of the trade date's month
TRADE_MONTH = "trunc(trade_date, 'MM')"

# Where a silver row came from, the same columns in silver/prices and corporate_actions:
# the listing's currency and zone, the source, the bronze object, the run and fetch time.
_PROVENANCE = (
    StructField("currency", _S),
    StructField("exchange_tz", _S),
    StructField("source", _S),
    StructField("source_object", _S, False),
    StructField("ingest_run", _S),
    StructField("ingested_at", TimestampType()),
)

_PRICES_SCHEMA = StructType(
    [
        StructField("symbol", _S, False),
        StructField("interval", _S, False),
        StructField("ts", TimestampType(), False),
        StructField("trade_date", DateType(), False),
        StructField("trade_month", DateType(), False),
        StructField("open", DoubleType(), False),
        StructField("high", DoubleType(), False),
        StructField("low", DoubleType(), False),
        StructField("close", DoubleType(), False),
        StructField("adj_close", DoubleType()),
        StructField("volume", LongType(), False),
        *_PROVENANCE,
    ]
)

PRICES = TableSpec(
    name="silver/prices",
    schema=_PRICES_SCHEMA,
    constraints={
        "prices_positive": "open > 0 AND high > 0 AND low > 0 AND close > 0",
        "adj_close_positive": "adj_close IS NULL OR adj_close > 0",
        "high_is_highest": "high >= low AND high >= open AND high >= close",
        "low_is_lowest": "low <= open AND low <= close",
        "volume_non_negative": "volume >= 0",
        "trade_month_of_trade_date": f"trade_month = {TRADE_MONTH}",
        # NOT NULL in the schema already says this for a table created from the spec; a
        # table migrated to the partitioning lost it (Delta makes a rewritten schema
        # nullable), so the constraint keeps the guarantee on every table
        "required_columns": " AND ".join(
            f"`{f.name}` IS NOT NULL" for f in _PRICES_SCHEMA.fields if not f.nullable
        ),
    },
    # The aggregator reads what changed since its last run from the Change Data Feed.
    properties={"delta.enableChangeDataFeed": "true"},
    # By month of the trade date: a load or a late correction rewrites and scans only the
    # months it touches, however long the history (one-minute bars of 32 symbols: ~260k
    # rows a month; daily bars: ~20 rows per symbol a month, still few files per month).
    partition_by=("trade_month",),
    derived={"trade_month": TRADE_MONTH},
)

# Splits and dividends from the payloads (Yahoo `events`, Alpha Vantage's split
# coefficient and dividend amount): one row per (symbol, kind, ex_date), newest fetch wins.
# ``ratio`` = numerator / denominator (a 4:1 split: 4); ``amount`` per share in the
# listing's currency, as the provider reported it at ``ingested_at``.
CORPORATE_ACTIONS = TableSpec(
    name="silver/corporate_actions",
    schema=StructType(
        [
            StructField("symbol", _S, False),
            StructField("kind", _S, False),
            StructField("ex_date", DateType(), False),
            StructField("ex_ts", TimestampType()),
            StructField("numerator", DoubleType()),
            StructField("denominator", DoubleType()),
            StructField("ratio", DoubleType()),
            StructField("amount", DoubleType()),
            *_PROVENANCE,
        ]
    ),
    constraints={
        "action_kind": "kind IN ('split', 'dividend')",
        "split_ratio_positive": "kind <> 'split' OR ratio > 0",
        "dividend_amount_positive": "kind <> 'dividend' OR amount > 0",
    },
    # The aggregator restates gold from what changed here (Change Data Feed).
    properties={"delta.enableChangeDataFeed": "true"},
)

QUARANTINE = TableSpec(
    name="silver/quarantine",
    schema=StructType(
        [
            StructField("source_object", _S, False),
            StructField("bar_index", IntegerType(), False),
            StructField("rule", _S, False),
            StructField("detail", _S),
            StructField("source", _S),
            StructField("symbol", _S),
            StructField("interval", _S),
            StructField("ts", TimestampType()),
            StructField("trade_date", DateType()),
            StructField("open", DoubleType()),
            StructField("high", DoubleType()),
            StructField("low", DoubleType()),
            StructField("close", DoubleType()),
            StructField("adj_close", DoubleType()),
            StructField("volume", LongType()),
            StructField("ingest_run", _S),
            StructField("ingested_at", TimestampType()),
            StructField("transform_run", _S),
            # bar | split | dividend (NULL in rows written before corporate actions: bar)
            StructField("record", _S),
        ]
    ),
)

PROCESSED = TableSpec(
    name="silver/_processed",
    schema=StructType(
        [
            StructField("object_key", _S, False),
            StructField("ingest_date", DateType(), False),
            StructField("source", _S),
            StructField("symbol", _S),
            StructField("interval", _S),
            StructField("rows_in", LongType(), False),
            StructField("rows_accepted", LongType(), False),
            StructField("rows_quarantined", LongType(), False),
            StructField("transform_run", _S, False),
        ]
    ),
)
