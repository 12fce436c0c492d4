import json
import logging

import pytest

from medallion.common.logs import JsonFormatter, log_summary, setup_logging

pytestmark = pytest.mark.unit


def test_summary_is_the_bare_contract_object_and_other_lines_are_json(capsys):
    setup_logging("INFO")
    setup_logging("INFO")  # idempotent: one line per record, not two
    log = logging.getLogger("medallion.test")
    log.info("hello %s", "world", extra={"symbol": "AAPL"})
    log_summary(log, "ingest", rows_in=3, rows_out=2, quarantined=1, seconds=0.5)
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert len(lines) == 2
    assert lines[0]["msg"] == "hello world" and lines[0]["symbol"] == "AAPL"
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "medallion.test"
    assert lines[1] == {
        "stage": "ingest",
        "rows_in": 3,
        "rows_out": 2,
        "quarantined": 1,
        "seconds": 0.5,
    }
    for handler in list(logging.getLogger().handlers):
        if getattr(handler, "_medallion", False):
            logging.getLogger().removeHandler(handler)


def test_exceptions_are_included():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, None)
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert "ValueError: bad" in json.loads(JsonFormatter().format(record))["exc"]
