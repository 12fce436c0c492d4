"""Remove secrets from URLs and parameter maps before they are logged or stored.

The Alpha Vantage key travels as a query parameter, so every URL that leaves the
HTTP client (bronze metadata, logs, error messages) goes through :func:`redact_url`.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"
SECRET_PARAMS = frozenset(
    {"apikey", "api_key", "key", "token", "access_token", "password", "secret", "crumb"}
)


def is_secret(name: str) -> bool:
    return name.lower() in SECRET_PARAMS


def redact_params(params: Mapping[str, object]) -> dict[str, str]:
    return {k: REDACTED if is_secret(k) else str(v) for k, v in params.items()}


def redact_url(url: str) -> str:
    """``url`` with secret query values replaced and any ``user:password@`` dropped."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode(
        [(k, REDACTED if is_secret(k) else v) for k, v in parse_qsl(parts.query, True)],
        safe=",",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: tuple[str | None, ...]) -> str:
    """Belt and braces for free text (exception messages): blank known secret values."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def request_url(url: str, params: Mapping[str, object]) -> str:
    """The full request URL as it may be recorded: query included, secrets redacted."""
    query = urlencode(redact_params(params), safe=",")
    return f"{url}?{query}" if query else url
