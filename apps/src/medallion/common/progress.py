"""Progress of long work inside a stage (symbols fetched, objects transformed).

On a terminal one line is redrawn in place (``ingest  3/8 symbols  MSFT``); anywhere
else (pods, CI, a pipe) it becomes a few plain log lines, one per tenth of the work and
one at the end, so logs stay readable and short. Thread-safe: ingest workers advance
one shared counter.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TextIO

logger = logging.getLogger(__name__)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


class Progress:
    def __init__(self, stage: str, total: int, unit: str, stream: TextIO | None = None) -> None:
        self.stage, self.total, self.unit = stage, max(total, 0), unit
        self.done = 0
        self._stream = stream or sys.stderr
        self._terminal = _is_terminal(self._stream)
        self._logged_tenth = -1
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def advance(self, n: int = 1, detail: str = "") -> None:
        with self._lock:
            self.done = min(self.done + n, self.total) if self.total else self.done + n
            if self._terminal:
                self._draw(detail)
                return
            tenth = 10 * self.done // self.total if self.total else 10
            if tenth > self._logged_tenth:
                self._logged_tenth = tenth
                logger.info(
                    "%s: %d/%d %s",
                    self.stage,
                    self.done,
                    self.total,
                    self.unit,
                    extra={"progress": self.stage, "done": self.done, "total": self.total},
                )

    def _draw(self, detail: str) -> None:
        width = 24
        filled = width * self.done // self.total if self.total else width
        bar = "#" * filled + "." * (width - filled)
        line = f"{self.stage:<10} [{bar}] {self.done}/{self.total} {self.unit}  {detail}"
        self._stream.write("\r\033[K" + line[:120])
        self._stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._terminal:
                self._stream.write("\n")
                self._stream.flush()
                self._terminal = False  # closing twice draws nothing more
