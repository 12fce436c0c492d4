import argparse
from datetime import date

import pytest

from medallion import cli
from medallion.common.cli import run_stage_cli
from medallion.common.config import ConfigError
from medallion.common.intervals import Interval, add_interval_arguments


class SourceDown(RuntimeError):
    pass


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medallion demo")
    add_interval_arguments(p)
    return p


def test_work_gets_the_interval_and_the_config(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path))
    seen = {}

    def work(args, interval, config):
        seen.update(interval=interval, lake=config.lake_root)

    assert run_stage_cli(parser(), ["--date", "2026-03-06"], work) == 0
    assert seen["interval"] == Interval.for_date(date(2026, 3, 6))
    assert seen["lake"] == str(tmp_path)


@pytest.mark.parametrize(
    ("raised", "code"), [(ConfigError("WATCHLIST is empty"), 2), (SourceDown("breaker open"), 3)]
)
def test_errors_become_exit_codes_with_the_message(raised, code, capsys):
    def work(args, interval, config):
        raise raised

    assert run_stage_cli(parser(), ["--date", "2026-03-06"], work, {SourceDown: 3}) == code
    assert str(raised) in capsys.readouterr().err


def test_a_bad_environment_fails_before_any_work(monkeypatch, capsys):
    monkeypatch.setenv("BAR_INTERVAL", "7m")

    def work(args, interval, config):
        raise AssertionError("must not run")

    assert run_stage_cli(parser(), ["--date", "2026-03-06"], work) == 2
    assert "BAR_INTERVAL" in capsys.readouterr().err


def test_an_unexpected_error_is_not_swallowed():
    def work(args, interval, config):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_stage_cli(parser(), ["--date", "2026-03-06"], work)


def test_the_medallion_command_lists_stages_and_refuses_unknown_ones(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(stage in out for stage in ("ingest", "transform", "aggregate", "publish", "run"))
    assert cli.main(["explode"]) == 2
    assert "unknown stage" in capsys.readouterr().err
