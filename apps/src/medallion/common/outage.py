"""Which server a failure came from, so a stage can say so and exit with code 3.

The stages retry within a bound (boto3 and S3A retry S3 calls, the publisher retries
its PostgreSQL transaction); when the bound is spent the error that escapes is mapped
here to a :class:`ServerUnavailable` message naming the server: "S3 server at
http://...", "PostgreSQL at host:port/db". Credentials never appear in the message.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from medallion.common.config import Config

# Text of JVM errors (S3A, the AWS SDK, Netty) that mean the S3 endpoint failed.
_S3_JAVA_MARKERS = (
    "Connection refused",
    "Connection reset",
    "ConnectException",
    "SdkClientException",
    "Unable to execute HTTP request",
    "AWSClientIOException",
    "AWSServiceThrottledException",
    "AWSStatus500Exception",
    "SlowDown",
    "Service Unavailable",
    "NoHttpResponseException",
    "SocketTimeoutException",
    "ApiCallTimeoutException",
    "RetryableException",
)
_S3_CODES = ("SlowDown", "ServiceUnavailable", "503", "500", "InternalError", "RequestTimeout")


class ServerUnavailable(RuntimeError):
    """A server stayed unreachable through the retries (exit code 3)."""

    exit_code = 3


def postgres_name(dsn: str | None) -> str:
    parts = urlsplit(dsn or "")
    return f"PostgreSQL at {parts.hostname or '?'}:{parts.port or 5432}{parts.path or ''}"


def s3_name(config: Config) -> str:
    return f"S3 server at {config.s3_endpoint_url} (bucket {config.bucket})"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def server_of(exc: BaseException, config: Config) -> str | None:
    """The server a failure names (PostgreSQL or the S3 endpoint), or None."""
    for item in _chain(exc):
        if isinstance(item, ServerUnavailable):
            return None  # already says which server
        module = type(item).__module__
        if module.startswith("psycopg") and type(item).__name__ in (
            "OperationalError",
            "InterfaceError",
        ):
            return postgres_name(config.analytics_dsn)
        if not config.is_s3:
            continue
        if module.startswith(("botocore", "urllib3")) and type(item).__name__ in (
            "EndpointConnectionError",
            "ConnectionClosedError",
            "ReadTimeoutError",
            "ConnectTimeoutError",
            "ProtocolError",
        ):
            return s3_name(config)
        if type(item).__name__ == "ClientError":
            code = str(getattr(item, "response", {}).get("Error", {}).get("Code", ""))
            if code in _S3_CODES:
                return s3_name(config)
        if module.startswith(("py4j", "pyspark")):
            text = str(item)
            if any(marker in text for marker in _S3_JAVA_MARKERS):
                return s3_name(config)
    return None


def first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()
    line = next((t for t in text if t.strip()), type(exc).__name__)
    return line[:limit]
