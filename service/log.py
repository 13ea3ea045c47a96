"""Structured logs: every record is one JSON object on one line of stderr.

The request log line (written by the app after each response) and the registry's messages share
this format, so a log pipeline parses one shape. Fields given as `extra={...}` become top-level
keys next to time, level, logger and message.
"""

from __future__ import annotations

import json
import logging
import sys
import time

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send the `digitnet` loggers to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("digitnet")
    logger.setLevel(level)
    logger.propagate = False
    if not any(getattr(h, "digitnet", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler.digitnet = True
        logger.addHandler(handler)
