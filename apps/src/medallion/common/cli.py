"""What every stage CLI does around its work: parse, log, load config, map errors to exit codes.

Exit codes are the contract with Airflow and with people: 0 ok, 2 bad setting or
argument (the message names it), 3 the source or a server (S3, PostgreSQL) is
unreachable after bounded retries (the message names it), 4 a data contract was
violated, 5 another writer holds the table's lease, or this writer lost it. A stage
maps its own exception types to 3 or 4.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import logging
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

from medallion.common.config import Config, ConfigError, load_config
from medallion.common.intervals import Interval, interval_from_args

EXIT_OK, EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_CONTRACT, EXIT_BUSY = 0, 2, 3, 4, 5

logger = logging.getLogger(__name__)

StageWork = Callable[[argparse.Namespace, Interval | None, Config], object]


def run_stage_cli(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    work: StageWork,
    errors: Mapping[type[BaseException], int] | None = None,
    log_format: str | None = None,
) -> int:
    """Parse ``argv``, set up logging, load the config and run ``work``.

    ``errors`` maps a stage's exception types to exit codes; ConfigError is always 2.
    """
    from medallion.common import faults, outage
    from medallion.common.lease import LeaseError
    from medallion.common.logs import setup_logging

    args = parser.parse_args(argv)
    # stages without an interval (maintain) have no interval arguments
    interval = interval_from_args(args, parser) if hasattr(args, "date") else None
    setup_logging(fmt=log_format)
    # `kill -USR1 <pid>` prints every Python thread's stack to stderr: for a stage that
    # seems stuck (Spark's JVM answers `jcmd <pid> Thread.print`).
    with contextlib.suppress(ValueError, OSError, AttributeError):  # stderr without an fd
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    handled: dict[type[BaseException], int] = {
        ConfigError: EXIT_CONFIG,
        faults.FaultConfigError: EXIT_CONFIG,
        LeaseError: EXIT_BUSY,
        outage.ServerUnavailable: EXIT_UNAVAILABLE,
        **(errors or {}),
    }
    config = None
    try:
        faults.arm()
        config = load_config()
        work(args, interval, config)
    except tuple(handled) as exc:
        code = next(c for kind, c in handled.items() if isinstance(exc, kind))
        logger.error("%s failed: %s", parser.prog, exc)
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return code
    except Exception as exc:
        server = outage.server_of(exc, config) if config is not None else None
        if server is None:
            raise
        message = f"{server} unavailable after retries: {outage.first_line(exc)}"
        logger.error("%s failed: %s", parser.prog, message)
        print(f"{parser.prog}: {message}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK
