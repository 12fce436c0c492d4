"""Transformer listing (new objects per ingest_date) and the stage CLIs."""

from __future__ import annotations

from datetime import date

import pytest

from medallion.aggregator.cli import build_parser as aggregate_parser
from medallion.common.intervals import Interval
from medallion.transformer.cli import build_parser, main
from medallion.transformer.job import ingest_date_of, interval_objects, meta_key

K = "bronze/source=yahoo/symbol=AAPL/interval=1d/ingest_date={d}/r-{h}.json"


def test_interval_objects_keeps_the_interval_and_waits_for_sidecars():
    a = K.format(d="2024-01-02", h="aa")
    b = K.format(d="2024-01-03", h="bb")
    c = K.format(d="2024-01-04", h="cc")  # outside [01-02, 01-04)
    late = K.format(d="2024-01-02", h="dd")  # sidecar not written yet
    keys = [a, meta_key(a), b, meta_key(b), c, meta_key(c), late, "bronze/_state/x.json"]
    ready, waiting = interval_objects(keys, Interval(date(2024, 1, 2), date(2024, 1, 4)))
    assert ready == [a, b]
    assert waiting == [late]
    assert meta_key(a).endswith("r-aa.meta.json")
    assert ingest_date_of(b) == date(2024, 1, 3)


def test_transform_cli_requires_an_interval(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "interval is required" in capsys.readouterr().err


def test_help_is_readable():
    text = build_parser().format_help()
    assert "silver/prices" in text and "--start" in text and "exit codes" in text
    assert "--full-refresh" in aggregate_parser().format_help()
