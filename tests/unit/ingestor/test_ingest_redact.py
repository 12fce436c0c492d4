import pytest

from medallion.ingestor.redact import (
    redact_params,
    redact_text,
    redact_url,
    request_url,
)

pytestmark = pytest.mark.unit


def test_redact_url_hides_api_key_and_userinfo():
    url = (
        "https://user:pw@www.example.test/query?function=X&apikey=SECRET123&symbol=AAPL"
    )
    safe = redact_url(url)
    assert "SECRET123" not in safe and "pw" not in safe
    assert "apikey=REDACTED" in safe and "symbol=AAPL" in safe


def test_request_url_builds_redacted_query():
    url = request_url(
        "http://h/query", {"symbol": "PETR4.SAO", "apikey": "k3y", "Token": "t"}
    )
    assert url == "http://h/query?symbol=PETR4.SAO&apikey=REDACTED&Token=REDACTED"


def test_redact_params_and_text():
    assert redact_params({"apikey": "x", "a": 1}) == {"apikey": "REDACTED", "a": "1"}
    assert (
        redact_text("failed GET ...apikey=abc", ("abc", None))
        == "failed GET ...apikey=REDACTED"
    )
