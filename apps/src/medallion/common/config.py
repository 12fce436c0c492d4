"""One frozen configuration object, built once at the entrypoint from the environment.

The variable names are the contract with the cluster: the job pods receive exactly
these names from the ``medallion-config`` ConfigMap and the ``medallion-s3`` /
``medallion-analytics`` Secrets. A missing or malformed setting fails at start with
a :class:`ConfigError` that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[4]

SOURCES = ("yahoo", "alphavantage", "synthetic")
BAR_INTERVALS = ("1d", "1h", "30m", "15m", "5m", "2m", "1m")
DEFAULT_WATCHLIST = ("AAPL", "MSFT", "NVDA", "PETR4.SA", "7203.T")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


# Attempts per S3 call (the first one included), in boto3 and in S3A alike; a stalled
# server costs one call at most about S3_ATTEMPTS x S3_TIMEOUT_S.
S3_ATTEMPTS = 3


@dataclass(frozen=True)
class HttpSettings:
    timeout_s: float = 10.0
    max_retries: int = 4
    rate_per_s: float = 2.0
    concurrency: int = 4
    breaker_threshold: int = 5


@dataclass(frozen=True)
class Config:
    lake_root: str
    """``/abs/dir`` for a local lake, or ``s3://bucket[/prefix]``."""
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_region: str = "us-east-1"
    analytics_dsn: str | None = field(default=None, repr=False)
    market_source: str = "yahoo"
    watchlist: tuple[str, ...] = DEFAULT_WATCHLIST
    bar_interval: str = "1d"
    yahoo_base_url: str = "https://query1.finance.yahoo.com"
    alphavantage_base_url: str = "https://www.alphavantage.co"
    alphavantage_api_key: str | None = field(default=None, repr=False)
    http: HttpSettings = HttpSettings()
    synthetic_seed: int = 42
    synthetic_bars_per_day: int = 1
    spark_master: str = "local[*]"
    jars_dir: str = str(REPO_ROOT / ".cache" / "jars")
    spark_cds_archive: str | None = None
    """A class-data-sharing archive of the driver JVM (SPARK_CDS_ARCHIVE): used when the
    file exists, written when the run ends when it does not."""
    s3_timeout_s: float = 30.0
    """An S3 request that sends nothing back for this long is abandoned and retried; the
    stage's whole S3 retry budget is a few times this (S3_TIMEOUT_S)."""
    lease_ttl_s: float = 60.0
    """A table writer's lease lasts this long without renewal (MEDALLION_LEASE_TTL_S)."""
    lease_wait_s: float = 75.0
    """How long a writer waits for another's lease to end (MEDALLION_LEASE_WAIT_S)."""

    @property
    def is_s3(self) -> bool:
        return self.lake_root.startswith("s3://")

    @property
    def bucket(self) -> str | None:
        return urlsplit(self.lake_root).netloc if self.is_s3 else None

    def lake_path(self, *parts: str) -> str:
        """Path of a lake object/table as Spark sees it (``s3a://`` or a local path)."""
        root = self.lake_root.rstrip("/")
        if self.is_s3:
            root = "s3a://" + root[len("s3://") :]
        return "/".join([root, *parts])

    def require_analytics_dsn(self) -> str:
        if not self.analytics_dsn:
            raise ConfigError(
                "ANALYTICS_DSN is not set: publishing needs a PostgreSQL DSN such as "
                "postgresql://analytics:PASSWORD@127.0.0.1:5432/analytics "
                "(`make run` starts a local PostgreSQL and sets it for you)"
            )
        return self.analytics_dsn


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _cds_archive(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "SPARK_CDS_ARCHIVE")
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute() or not path.parent.is_dir():
        raise ConfigError(
            f"SPARK_CDS_ARCHIVE={raw!r} must be an absolute path in an existing folder "
            "(the JVM reads the archive there, or writes it there when the run ends)"
        )
    return str(path)


def _number(env: Mapping[str, str], name: str, default: float, kind: type, minimum: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be >= {minimum}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _get(env, name, default)
    assert value is not None
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def _symbols(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _get(env, "WATCHLIST")
    if raw is None:
        return DEFAULT_WATCHLIST
    symbols = tuple(dict.fromkeys(s.strip().upper() for s in raw.split(",") if s.strip()))
    if not symbols:
        raise ConfigError("WATCHLIST is empty: give comma-separated symbols, e.g. AAPL,MSFT")
    for symbol in symbols:
        if not all(c.isalnum() or c in ".-^=" for c in symbol):
            raise ConfigError(f"WATCHLIST contains an invalid symbol {symbol!r}")
    return symbols


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Build the :class:`Config` from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env

    lake_root = _get(env, "LAKE_ROOT", str(REPO_ROOT / ".lakehouse"))
    assert lake_root is not None
    if lake_root.startswith("s3a://"):
        raise ConfigError("LAKE_ROOT must use s3:// (not s3a://); Spark paths are derived from it")
    endpoint = _get(env, "S3_ENDPOINT_URL")
    if lake_root.startswith("s3://"):
        if not urlsplit(lake_root).netloc:
            raise ConfigError(f"LAKE_ROOT={lake_root!r} has no bucket name")
        if endpoint is None:
            raise ConfigError("S3_ENDPOINT_URL is required when LAKE_ROOT is an s3:// URI")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            if _get(env, name) is None:
                raise ConfigError(f"{name} is required when LAKE_ROOT is an s3:// URI")
    elif "://" in lake_root:
        raise ConfigError(f"LAKE_ROOT={lake_root!r}: use a local directory or s3://bucket")
    else:
        lake_root = str(Path(lake_root).expanduser().resolve())
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ConfigError(f"S3_ENDPOINT_URL={endpoint!r} must start with http:// or https://")

    dsn = _get(env, "ANALYTICS_DSN")
    if dsn is not None and urlsplit(dsn).scheme not in ("postgresql", "postgres"):
        raise ConfigError("ANALYTICS_DSN must be a postgresql:// URI")

    source = _choice(env, "MARKET_SOURCE", "yahoo", SOURCES)
    api_key = _get(env, "ALPHAVANTAGE_API_KEY")
    if source == "alphavantage" and api_key is None:
        raise ConfigError("ALPHAVANTAGE_API_KEY is required when MARKET_SOURCE=alphavantage")

    bar_interval = _choice(env, "BAR_INTERVAL", "1d", BAR_INTERVALS)
    http = HttpSettings(
        timeout_s=_number(env, "HTTP_TIMEOUT_S", 10.0, float, 0.1),
        max_retries=int(_number(env, "HTTP_MAX_RETRIES", 4, int, 0)),
        rate_per_s=_number(env, "HTTP_RATE_PER_S", 2.0, float, 0.01),
        concurrency=int(_number(env, "HTTP_CONCURRENCY", 4, int, 1)),
        breaker_threshold=int(_number(env, "HTTP_BREAKER_THRESHOLD", 5, int, 1)),
    )
    lease_ttl = _number(env, "MEDALLION_LEASE_TTL_S", 60.0, float, 1)
    return Config(
        lake_root=lake_root,
        s3_endpoint_url=endpoint,
        aws_access_key_id=_get(env, "AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=_get(env, "AWS_SECRET_ACCESS_KEY"),
        aws_region=_get(env, "AWS_REGION", "us-east-1") or "us-east-1",
        analytics_dsn=dsn,
        market_source=source,
        watchlist=_symbols(env),
        bar_interval=bar_interval,
        yahoo_base_url=(_get(env, "YAHOO_BASE_URL", Config.yahoo_base_url) or "").rstrip("/"),
        alphavantage_base_url=(
            _get(env, "ALPHAVANTAGE_BASE_URL", Config.alphavantage_base_url) or ""
        ).rstrip("/"),
        alphavantage_api_key=api_key,
        http=http,
        synthetic_seed=int(_number(env, "SYNTHETIC_SEED", 42, int, 0)),
        synthetic_bars_per_day=int(
            _number(env, "SYNTHETIC_BARS_PER_DAY", 1 if bar_interval == "1d" else 390, int, 1)
        ),
        spark_master=_get(env, "SPARK_MASTER", "local[*]") or "local[*]",
        jars_dir=_get(env, "MEDALLION_JARS_DIR", Config.jars_dir) or Config.jars_dir,
        spark_cds_archive=_cds_archive(env),
        s3_timeout_s=_number(env, "S3_TIMEOUT_S", 30.0, float, 1),
        lease_ttl_s=lease_ttl,
        lease_wait_s=_number(env, "MEDALLION_LEASE_WAIT_S", lease_ttl * 1.25, float, 0),
    )
