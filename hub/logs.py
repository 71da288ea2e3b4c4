"""Logs a district's operator can search: plain lines for a person at a terminal, or one
JSON object per line (`[log] format = "json"`) for a log collector, each carrying the
request it belongs to (its id, the client, the GraphQL operation) without every call
site passing them along."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

# The request being served: set at the edge (id) and by the endpoint (client, operation).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
client: ContextVar[str | None] = ContextVar("client", default=None)
operation: ContextVar[str | None] = ContextVar("operation", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in (("request_id", request_id), ("client", client),
                          ("operation", operation)):
            value = var.get()
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class ContextFilter(logging.Filter):
    """For plain lines: the request id after the message, when there is one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request = f" [{request_id.get()}]" if request_id.get() else ""
        return True


def configure(fmt: str = "text", level: str = "WARNING") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                               "%(message)s%(request)s"))
        handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
