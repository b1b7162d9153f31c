"""JSON log lines carrying the request id of the request that wrote them."""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import sys

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                       default=None)
_EXTRA = ("method", "path", "route", "status", "ms", "principal")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as JSON."""
        out = {"ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
               "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage(), "request_id": request_id.get()}
        out.update({k: getattr(record, k) for k in _EXTRA if hasattr(record, k)})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure(level: str = "INFO") -> None:
    """Send the `omni` loggers to stderr as JSON lines (once; idempotent)."""
    root = logging.getLogger("omni")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
