"""The service's log format: one JSON object per line (default), or plain text for a terminal.

Log collectors (a Collector's filelog receiver, Loki, Cloud Logging) parse a JSON line into fields
without a per-format regex. The formatter only renders: a handler's filters (secrets.SecretsFilter
masks the message and the traceback) run before it, so it must take the message and the traceback
text from the record as the filters left them, never re-render them from the original arguments.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        # ensure_ascii keeps a line one line, whatever control characters a message holds.
        return json.dumps(line, ensure_ascii=True, default=str)


def configure(level: str, fmt: str = "json") -> logging.Handler:
    """Log records of `level` and above to stderr in `fmt` (json or text); returns the handler, to
    which filters (secrets) are added afterwards."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    # Like basicConfig, it leaves a root logger that already has handlers (a test harness) as it is.
    logging.basicConfig(level=level, handlers=[handler])
    return handler
