"""Gold and PostgreSQL against an independent oracle, after the real pipeline on MinIO.

The fixture (tests/integration/market_fixture.py) has a split fetched before and one
fetched after its ex-date, a dividend each, a holiday gap, a late correction of an old
bar, an index with zero volume and a malformed payload. The oracle
(tests/integration/gold_oracle.py) reads the bronze JSON back from MinIO with boto3 and
computes every gold column in plain Python; every expected number comes from it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import psycopg

from medallion.aggregator.job import run_aggregate
from medallion.common.config import load_config
from medallion.common.storage import store_from_config
from medallion.publisher.job import run_publish
from medallion.transformer.job import run_transform
from tests.integration import gold_oracle
from tests.integration.market_fixture import INTERVAL, WATCHLIST, write_fixture


def bronze_from_s3(client, bucket: str) -> list[tuple[str, str, str]]:
    """(key, body, sidecar) of every bronze data object, read with boto3."""
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                  Prefix="bronze/source="):
        keys += [o["Key"] for o in page.get("Contents", [])]

    def text(key):
        return client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()

    return [(k, text(k), text(k[: -len(".json")] + ".meta.json"))
            for k in sorted(keys) if not k.endswith(".meta.json")]


def as_utc(value):
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Comparison:
    def __init__(self):
        self.values = 0
        self.max_rel = 0.0
        self.mismatches: list[str] = []

    def check(self, where: str, expected, got) -> None:
        self.values += 1
        if isinstance(expected, float) or isinstance(got, float):
            if expected is None or got is None:
                self.mismatches.append(f"{where}: expected {expected!r}, got {got!r}")
                return
            diff = abs(float(expected) - float(got))
            scale = max(abs(float(expected)), abs(float(got)))
            rel = diff / scale if scale else diff
            if scale > 1e-6:  # values near 0 (a flat day's return) compare absolutely
                self.max_rel = max(self.max_rel, rel)
            if not math.isclose(float(expected), float(got), rel_tol=1e-9, abs_tol=1e-12):
                self.mismatches.append(f"{where}: expected {expected!r}, got {got!r}")
        elif as_utc(expected) != as_utc(got):
            self.mismatches.append(f"{where}: expected {expected!r}, got {got!r}")


def compare(expected: dict, rows: dict, label: str, result: Comparison) -> None:
    assert set(rows) == set(expected), f"{label}: keys differ"
    for key, want in expected.items():
        have = rows[key]
        assert set(have) == set(want), f"{label}: columns {sorted(set(have) ^ set(want))}"
        for column, value in want.items():
            result.check(f"{label} {key} {column}", value, have[column])


def test_gold_matches_the_oracle_value_by_value(s3_spark, postgres_server, minio_server):
    spark, env = s3_spark
    config = load_config({**env, "WATCHLIST": WATCHLIST, "ANALYTICS_DSN": postgres_server.dsn})
    write_fixture(store_from_config(config))

    silver = run_transform(config, INTERVAL, spark=spark)
    assert silver.quarantine_by_rule == {"array_length_mismatch": 6}
    assert silver.rows_in == silver.rows_out + silver.quarantined
    run_aggregate(config, INTERVAL, spark=spark)
    run_publish(config, INTERVAL, spark=spark)

    bucket = env["LAKE_ROOT"][len("s3://"):]
    expected = gold_oracle.gold(bronze_from_s3(minio_server.client(), bucket))
    assert len(expected) == 41 + 46 + 46  # AAPL to DAYS[40], MSFT and SPX to DAYS[45]
    columns = list(next(iter(expected.values())))

    delta = {
        (r["symbol"], r["trade_date"]): r.asDict()
        for r in spark.read.format("delta").load(config.lake_path("gold", "daily")).collect()
    }
    with psycopg.connect(postgres_server.dsn) as conn:
        cur = conn.execute(f"SELECT {', '.join(columns)} FROM public.gold_daily")
        published = {(r[0], r[1]): dict(zip(columns, r, strict=True)) for r in cur.fetchall()}

    result = Comparison()
    compare(expected, delta, "delta", result)
    compare(expected, published, "postgres", result)
    print(f"\noracle: {len(expected)} gold rows x {len(columns)} columns, "
          f"{result.values} values compared (Delta + PostgreSQL), "
          f"max relative difference {result.max_rel:.3g}")
    assert not result.mismatches, "\n".join(result.mismatches[:20])
    assert result.values == 2 * len(expected) * len(columns)
