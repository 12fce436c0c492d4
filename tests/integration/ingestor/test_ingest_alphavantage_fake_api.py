"""Alpha Vantage through the fake API: the key is used but never written anywhere."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime

import pytest

from medallion.common.config import load_config
from medallion.common.intervals import Interval
from medallion.common.storage import LocalStore
from medallion.ingestor.bronze import list_bronze_objects
from medallion.ingestor.job import run_ingest
from tests.fakes.market_api import Fault

pytestmark = pytest.mark.integration

KEY = "AVKEY-9f8e7d6c5b4a"
NOW = datetime(2026, 1, 20, 12, tzinfo=UTC)


def cfg(tmp_path, api):
    return load_config(
        {
            "LAKE_ROOT": str(tmp_path),
            "MARKET_SOURCE": "alphavantage",
            "ALPHAVANTAGE_BASE_URL": api.base_url,
            "ALPHAVANTAGE_API_KEY": KEY,
            "WATCHLIST": "MSFT,PETR4.SA",
            "HTTP_RATE_PER_S": "1000",
        }
    )


def test_daily_series_lands_and_key_never_leaks(tmp_path, market_api, caplog):
    caplog.set_level(logging.DEBUG)
    market_api.now = NOW
    market_api.inject(Fault("av_information"), symbol="PETR4.SAO")
    result = run_ingest(
        cfg(tmp_path, market_api),
        Interval(date(2026, 1, 5), date(2026, 1, 10)),
        now=NOW,
    )
    assert result.errors_by_kind == {"av_information": 1}
    store = LocalStore(tmp_path)
    objects = {o.symbol: o for o in list_bronze_objects(store)}
    meta = json.loads(store.get(objects["MSFT"].meta_key))
    assert meta["error"] is None and meta["params"]["apikey"] == "REDACTED"
    assert (
        "apikey=REDACTED" in meta["url"] and meta["params"]["outputsize"] == "compact"
    )
    assert "Time Series (Daily)" in json.loads(store.get(objects["MSFT"].key))
    assert (
        json.loads(store.get(objects["PETR4.SA"].meta_key))["error"] == "av_information"
    )
    # the server did get the key...
    assert {r.params.get("apikey") for r in market_api.requests} == {KEY}
    assert {r.params["symbol"] for r in market_api.requests} == {"MSFT", "PETR4.SAO"}
    # ...and it is nowhere in the lake or the logs
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    ours = [r for r in caplog.records if r.name.startswith("medallion")]
    assert ours and not any(KEY in r.getMessage() or KEY in str(vars(r)) for r in ours)
    assert result.bars_fetched == 100
