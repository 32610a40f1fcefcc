"""JSON-lines logging carries the request and job ids bound around the work."""

from __future__ import annotations

import json
import logging

import pytest

from shared.infrastructure.logs import JsonLinesFormatter, bind


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "finerag.test", "levelname": "INFO", "msg": msg})
    record.__dict__.update(extra)
    return record


def test_one_json_object_per_line_with_bound_ids():
    formatter = JsonLinesFormatter()
    with bind(request_id="req-1", job_id="ftjob-9"):
        line = formatter.format(_record("hello\nworld", step=3))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "hello\nworld"
    assert entry["request_id"] == "req-1"
    assert entry["job_id"] == "ftjob-9"
    assert entry["step"] == 3
    assert entry["level"] == "INFO"


def test_ids_are_unbound_after_the_block():
    formatter = JsonLinesFormatter()
    with bind(request_id="req-1"):
        pass
    entry = json.loads(formatter.format(_record("after")))
    assert "request_id" not in entry


def test_exceptions_are_logged_as_a_field():
    formatter = JsonLinesFormatter()
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    entry = json.loads(formatter.format(record))
    assert "ValueError: bad" in entry["exc"]


def test_configure_logging_writes_json_to_stderr(capsys: pytest.CaptureFixture[str]):
    from shared.infrastructure.logs import configure_logging

    configure_logging("INFO", "json")
    logging.getLogger("finerag.x").info("ready", extra={"port": 8000})
    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert entry["msg"] == "ready"
    assert entry["port"] == 8000
