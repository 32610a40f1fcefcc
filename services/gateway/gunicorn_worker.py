"""The gateway's gunicorn worker: gthread, with gunicorn's own error pages in the wire shape.

gunicorn answers some requests before Flask sees them (a header over its size limit is a 431,
an unreadable request line a 400) with an HTML page. Clients of this API parse
`{"error": {...}}`, so this worker writes those answers in the one error shape instead.
gunicorn's workers call `gunicorn.util.write_error` for them; the worker module replaces that
function when gunicorn imports it (the gateway's own process only).
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from shared.contracts.errors import error_body_for_status


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error answer, as a JSON body in the wire shape."""
    body = json.dumps(error_body_for_status(status_int, mesg or reason)).encode("utf-8")
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = write_json_error


class GatewayWorker(ThreadWorker):
    """gthread (threads share the process's model) with JSON error answers."""
