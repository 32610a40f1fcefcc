"""JSON-lines logging with the request id and job id of whatever is running.

`configure_logging()` once per process; `bind(request_id=..., job_id=...)` as a context manager
around a request or a job. Every record then carries those ids, so one grep follows a request
through the gateway, the retrieval service and the trainer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("finerag_request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("finerag_job_id", default=None)

# Attributes every LogRecord has; anything else passed through `extra=` is written as a field.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (("request_id", request_id_var), ("job_id", job_id_var)):
            value = var.get()
            if value is not None:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{key}={var.get()}"
            for key, var in (("request", request_id_var), ("job", job_id_var))
            if var.get() is not None
        )
        line = super().format(record)
        return f"{line} [{ids}]" if ids else line


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send the root logger to stderr as JSON lines (or readable text), replacing handlers."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@contextlib.contextmanager
def bind(*, request_id: str | None = None, job_id: str | None = None) -> Iterator[None]:
    """Attach a request id and/or job id to every record logged inside the block."""
    tokens = []
    if request_id is not None:
        tokens.append((request_id_var, request_id_var.set(request_id)))
    if job_id is not None:
        tokens.append((job_id_var, job_id_var.set(job_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
