"""run_ingest end to end on the synthetic source and a local lake (no servers)."""

import json
import logging
from datetime import date

import pytest

from medallion.common.config import load_config
from medallion.common.intervals import Interval
from medallion.common.storage import LocalStore
from medallion.ingestor import cli
from medallion.ingestor.bronze import list_bronze_objects
from medallion.ingestor.job import run_ingest
from medallion.ingestor.state import StateStore, state_key

pytestmark = pytest.mark.unit

WEEK = Interval(date(2026, 1, 5), date(2026, 1, 10))


def config(tmp_path, **env):
    return load_config(
        {
            "LAKE_ROOT": str(tmp_path),
            "MARKET_SOURCE": "synthetic",
            "WATCHLIST": "AAPL,PETR4.SA,7203.T",
            **env,
        }
    )


def snapshot(tmp_path):
    return {
        p.relative_to(tmp_path).as_posix(): p.read_bytes()
        for p in tmp_path.rglob("*")
        if p.is_file() and "_state" not in p.parts
    }


def test_first_run_writes_one_object_per_symbol_and_rerun_writes_nothing(tmp_path):
    cfg = config(tmp_path)
    result = run_ingest(cfg, WEEK)
    assert (result.requests, result.objects_written, result.duplicates_skipped) == (
        3,
        3,
        0,
    )
    assert result.bars_fetched == result.bars_written == 15
    assert result.errors_by_kind == {} and result.ok
    objects = list_bronze_objects(LocalStore(tmp_path))
    assert {o.symbol for o in objects} == {"AAPL", "PETR4.SA", "7203.T"}
    assert {o.ingest_date for o in objects} == {date(2026, 1, 5)}
    assert {o.run_id for o in objects} == {"20260105-20260110"}
    before = snapshot(tmp_path)
    again = run_ingest(cfg, WEEK)
    assert (again.requests, again.objects_written) == (0, 0)
    assert snapshot(tmp_path) == before


def test_lost_state_refetches_identical_bytes_and_dedupes(tmp_path):
    cfg = config(tmp_path)
    run_ingest(cfg, WEEK)
    before = snapshot(tmp_path)
    for path in (tmp_path / "bronze" / "_state").rglob("*.json"):
        path.unlink()
    result = run_ingest(cfg, WEEK)
    assert result.requests == 3 and result.objects_written == 0
    assert result.duplicates_skipped == 3
    assert snapshot(tmp_path) == before


def test_next_interval_asks_only_from_the_last_bar(tmp_path):
    cfg = config(tmp_path, WATCHLIST="AAPL")
    run_ingest(cfg, WEEK)
    nxt = run_ingest(cfg, Interval(date(2026, 1, 10), date(2026, 1, 14)))
    metas = [
        json.loads(LocalStore(tmp_path).get(o.meta_key))
        for o in list_bronze_objects(LocalStore(tmp_path))
    ]
    second = next(m for m in metas if m["run_id"] == "20260110-20260114")
    assert second["period_start"] == "2026-01-09T00:00:00+00:00"  # one bar of overlap
    assert second["period_end"] == "2026-01-14T00:00:00+00:00"
    assert second["ingest_date"] == "2026-01-10"
    assert nxt.bars_fetched == 1 + 2  # Friday again, then Monday and Tuesday
    state = StateStore(LocalStore(tmp_path)).load("synthetic", "AAPL", "1d")
    assert [(r.start.date(), r.end.date()) for r in state.ranges] == [
        (date(2026, 1, 5), date(2026, 1, 14))
    ]


def test_backfill_of_earlier_range_is_fetched(tmp_path):
    cfg = config(tmp_path, WATCHLIST="AAPL")
    run_ingest(cfg, WEEK)
    back = run_ingest(cfg, Interval(date(2025, 12, 29), date(2026, 1, 7)))
    assert back.requests == 1 and back.bars_fetched == 5  # Dec 29 - Jan 2 only
    state = StateStore(LocalStore(tmp_path)).load("synthetic", "AAPL", "1d")
    assert len(state.ranges) == 1 and state.ranges[0].start.date() == date(2025, 12, 29)


def test_intraday_synthetic_is_chunked_like_yahoo(tmp_path):
    cfg = config(
        tmp_path, WATCHLIST="AAPL", BAR_INTERVAL="1m", SYNTHETIC_BARS_PER_DAY="30"
    )
    result = run_ingest(cfg, Interval(date(2026, 1, 1), date(2026, 1, 20)))
    assert result.requests == 3  # 7 + 7 + 5 days
    assert result.bars_fetched == 13 * 30  # 13 weekdays


def test_summary_line_is_logged_as_the_contract_json(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="medallion.ingestor.job")
    run_ingest(config(tmp_path), WEEK)
    summaries = [r.summary for r in caplog.records if hasattr(r, "summary")]
    assert len(summaries) == 1
    s = summaries[0]
    assert list(s)[:5] == ["stage", "rows_in", "rows_out", "quarantined", "seconds"]
    assert s["stage"] == "ingest" and s["rows_in"] == 15 and s["quarantined"] == 0


def test_state_is_not_written_for_other_series(tmp_path):
    run_ingest(config(tmp_path, WATCHLIST="AAPL"), WEEK)
    assert LocalStore(tmp_path).list("bronze/_state/") == [
        state_key("synthetic", "AAPL", "1d")
    ]


@pytest.fixture
def restore_logging():
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_medallion", False):
            root.removeHandler(handler)


@pytest.mark.usefixtures("restore_logging")
def test_cli_runs_and_reports_bad_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path))
    monkeypatch.setenv("MARKET_SOURCE", "synthetic")
    assert cli.main(["--date", "2026-01-05", "--symbols", "aapl,msft"]) == 0
    assert {o.symbol for o in list_bronze_objects(LocalStore(tmp_path))} == {
        "AAPL",
        "MSFT",
    }
    err = capsys.readouterr().err
    assert '"stage": "ingest"' in err
    monkeypatch.setenv("HTTP_TIMEOUT_S", "soon")
    assert cli.main(["--date", "2026-01-05"]) == 2
    assert "HTTP_TIMEOUT_S" in capsys.readouterr().err
    monkeypatch.delenv("HTTP_TIMEOUT_S")
    monkeypatch.delenv("ALPHAVANTAGE_API_KEY", raising=False)
    assert cli.main(["--date", "2026-01-05", "--source", "alphavantage"]) == 2
    assert "ALPHAVANTAGE_API_KEY" in capsys.readouterr().err


def test_cli_requires_an_interval_and_has_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    help_text = cli.build_parser().format_help()
    for word in ("--start", "--end", "--date", "--symbols", "--source", "exit codes"):
        assert word in help_text
