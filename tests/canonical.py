"""The canonical form of the pipeline's output: what must be equal after any rerun.

Defined once and used by every test that compares two runs (the fault-injection
suite, the end-to-end rerun). It keeps the business content and leaves out what a
rerun may legitimately change (run ids, fetch times, ``updated_at``/``quarantined_at``
stamps, object names that carry a run id):

* bronze — the set of payload sha256 (data objects only, not sidecars or state);
* silver prices — key, values and the content hash (sha256) of the source object;
* silver quarantine — the bar (source object hash and position), rule and values;
* gold (Delta) and PostgreSQL ``gold_daily`` — keys and values, in the same column
  order (``GOLD_FORM_COLUMNS``), so the two compare directly.

Each layer is a multiset (``Counter`` of row tuples), so a duplicated row shows up as
well as a lost one. Floats are compared to 12 significant digits: a recomputation may
sum in another order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from medallion.common.storage import ObjectStore

_SHA = re.compile(r"([0-9a-f]{64})\.json$")

SILVER_COLUMNS = (
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
)
QUARANTINE_COLUMNS = (
    "bar_index",
    "rule",
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
)
STAMPS = ("updated_at",)


def _gold_form_columns() -> tuple[str, ...]:
    from medallion.aggregator.job import GOLD_DAILY

    return tuple(sorted(f.name for f in GOLD_DAILY.schema.fields if f.name not in STAMPS))


GOLD_FORM_COLUMNS = _gold_form_columns()
LAYERS = ("bronze", "silver", "quarantine", "gold", "postgres")


def object_sha(key: str | None) -> str | None:
    """The payload sha256 a bronze key ends with (the run id before it is left out)."""
    match = _SHA.search(key or "")
    return match.group(1) if match else None


def _value(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    return value


def _rows(rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> Counter:
    cols = tuple(columns)
    return Counter(tuple(_value(row[c]) for c in cols) for row in rows)


def bronze_form(store: ObjectStore) -> Counter:
    keys = store.list("bronze/source=")
    return Counter(
        object_sha(k) for k in keys if k.endswith(".json") and not k.endswith(".meta.json")
    )


def _delta(spark, path: str):
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return []
    return [r.asDict() for r in spark.read.format("delta").load(path).collect()]


def silver_form(spark, config) -> Counter:
    rows = _delta(spark, config.lake_path("silver", "prices"))
    for row in rows:
        row["source_sha"] = object_sha(row["source_object"])
    return _rows(rows, (*SILVER_COLUMNS, "source_sha"))


def quarantine_form(spark, config) -> Counter:
    rows = _delta(spark, config.lake_path("silver", "quarantine"))
    for row in rows:
        row["source_sha"] = object_sha(row["source_object"])
    return _rows(rows, ("source_sha", *QUARANTINE_COLUMNS))


def gold_form(spark, config) -> Counter:
    return _rows(_delta(spark, config.lake_path("gold", "daily")), GOLD_FORM_COLUMNS)


def postgres_form(dsn: str) -> Counter:
    with psycopg.connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass('public.gold_daily')").fetchone()[0]
        if exists is None:
            return Counter()
        cur = conn.execute("SELECT * FROM public.gold_daily")
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return _rows(rows, GOLD_FORM_COLUMNS)


@dataclass(frozen=True)
class Canonical:
    """The canonical form of some or all layers (a layer left out is None)."""

    bronze: Counter | None = None
    silver: Counter | None = None
    quarantine: Counter | None = None
    gold: Counter | None = None
    postgres: Counter | None = None

    def layers(self) -> dict[str, Counter]:
        return {n: getattr(self, n) for n in LAYERS if getattr(self, n) is not None}

    def diff(self, expected: Canonical) -> dict[str, dict[str, int]]:
        """Per layer compared in both: rows lost (in ``expected`` only) and rows extra
        (duplicated or unexpected), as counts. Empty when equal."""
        out = {}
        mine = self.layers()
        for name, want in expected.layers().items():
            if name not in mine:
                continue
            got = mine[name]
            lost, extra = sum((want - got).values()), sum((got - want).values())
            if lost or extra:
                out[name] = {"lost": lost, "extra": extra}
        return out


def canonical(
    spark=None,
    config=None,
    dsn: str | None = None,
    store: ObjectStore | None = None,
    layers: Iterable[str] = LAYERS,
) -> Canonical:
    """The canonical form of the chosen layers of one lake (and its PostgreSQL)."""
    from medallion.common.storage import store_from_config

    wanted = set(layers)
    parts: dict[str, Counter] = {}
    if "bronze" in wanted:
        parts["bronze"] = bronze_form(store or store_from_config(config))
    if "silver" in wanted:
        parts["silver"] = silver_form(spark, config)
    if "quarantine" in wanted:
        parts["quarantine"] = quarantine_form(spark, config)
    if "gold" in wanted:
        parts["gold"] = gold_form(spark, config)
    if "postgres" in wanted and dsn:
        parts["postgres"] = postgres_form(dsn)
    return Canonical(**parts)
