"""Logging for the job entrypoints: one JSON object per line on stderr.

Pods ship stderr to whatever collects logs; JSON lines stay machine-readable there
and are still readable by a person. Only entrypoints call :func:`setup_logging`;
library modules just use ``logging.getLogger(__name__)``.

The end-of-stage summary (README, "When a task fails") is printed as a bare JSON
object, without the usual envelope, so tools can ``grep '"stage"'`` and parse it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed via ``extra=`` and is emitted.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        summary = getattr(record, "summary", None)
        if isinstance(summary, dict):
            return json.dumps(summary, default=str, sort_keys=False)
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Configure the root logger once; ``LOG_LEVEL`` / ``LOG_FORMAT=text`` override."""
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    fmt = (fmt or os.environ.get("LOG_FORMAT") or "json").lower()
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    handler._medallion = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    # Replace only our own handler: calling this twice (medallion run -> stage CLIs)
    # must not duplicate lines, and handlers others installed (pytest's) stay.
    for old in list(root.handlers):
        if getattr(old, "_medallion", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter (boto's per-request debug lines) is noise at INFO.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_summary(logger: logging.Logger, stage: str, **fields: Any) -> dict[str, Any]:
    """Log the one end-of-stage JSON line: ``{"stage": ..., **fields}``; returns it."""
    summary = {"stage": stage, **fields}
    # The summary is the contract, not chatter: it is printed even at LOG_LEVEL=WARNING.
    level = max(logging.INFO, logger.getEffectiveLevel())
    logger.log(level, "summary %s", json.dumps(summary, default=str), extra={"summary": summary})
    return summary
