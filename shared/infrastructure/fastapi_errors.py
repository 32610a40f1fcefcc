"""The one error handler and request-id middleware every FastAPI service installs.

Domain errors (`shared.contracts.errors.FineRAGError`) keep their status; request validation errors
become 400 (not FastAPI's 422); framework errors (404 route, 405) get the same shape; anything else
is logged with its traceback and answered as a bare 500. Every answer carries `X-Request-ID`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.contracts.errors import FineRAGError, error_body, error_body_for_status
from shared.infrastructure.logs import request_id_var

log = logging.getLogger("finerag.http")

REQUEST_ID_HEADER = "X-Request-ID"


def _validation_message(errors: list[Any]) -> tuple[str, str | None]:
    """A one-line message and the offending parameter from pydantic's error list."""
    if not errors:
        return "invalid request", None
    first = errors[0]
    location = [str(part) for part in first.get("loc", ())]
    if location and location[0] in ("body", "query", "path", "header", "cookie"):
        location = location[1:]  # where the value was sent, not which value it is
    param = ".".join(location) or None
    message = str(first.get("msg", "invalid value"))
    return (f"{param}: {message}" if param else message), param


async def _domain_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FineRAGError)
    if exc.status >= 500:
        log.error("request failed: %s", exc.message, extra={"code": exc.code})
    return JSONResponse(exc.to_body(), status_code=exc.status, headers=exc.headers or None)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    message, param = _validation_message(list(exc.errors()))
    body = error_body(message, type_="invalid_request_error", code="invalid_request", param=param)
    return JSONResponse(body, status_code=400)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    body = error_body_for_status(exc.status_code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    body = error_body(
        "The server had an internal error.", type_="server_error", code="internal_error"
    )
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the wire shape `{"error": {"message", "type", "code", "param"}}`."""
    app.add_exception_handler(FineRAGError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def install_request_ids(app: FastAPI) -> None:
    """Bind a request id (the caller's `X-Request-ID` or a new one) to logs and the answer."""

    @app.middleware("http")
    async def _bind_request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if 0 < len(incoming) <= 128 else f"req-{uuid.uuid4().hex[:16]}"
        token = request_id_var.set(request_id)
        try:
            response = await call_next(request)
        finally:
            request_id_var.reset(token)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response


def install_error_handling(app: FastAPI) -> None:
    """Both of the above: what every FastAPI service calls once in its app factory."""
    install_error_handlers(app)
    install_request_ids(app)
