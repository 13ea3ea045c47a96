"""Structured logs: every record is one JSON object on one line of stderr.

The request log line (written by the app after each response) and the registry's messages share
this format, so a log pipeline parses one shape. Fields given as `extra={...}` become top-level
keys next to time, level, logger and message.

A line is written when it is logged, not buffered: a line per answered request is in the log as
soon as the answer is sent, and none is lost however the process ends. It is kept cheap instead:
the encoder is made once, the time of day is formatted once per second, and the logging module is
told not to collect what no line shows (the caller's file and line, thread and process names).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from functools import lru_cache

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_ENCODER = json.JSONEncoder(default=str)  # what json.dumps(entry, default=str) makes per call


@lru_cache(maxsize=1)
def _utc_second(second: int) -> str:
    """A second's UTC time of day, formatted once for all the lines logged within it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": f"{_utc_second(int(record.created))}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


def configure_logging(level: str) -> None:
    """Send the `digitnet` loggers to stderr as JSON lines (idempotent)."""
    # No line shows where it was logged from, nor thread or process: not worth looking up for
    # each record (the logging HOWTO's "Optimization"; for the whole process, gunicorn's too).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logger = logging.getLogger("digitnet")
    logger.setLevel(level)
    logger.propagate = False
    if not any(getattr(h, "digitnet", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler.digitnet = True
        logger.addHandler(handler)
