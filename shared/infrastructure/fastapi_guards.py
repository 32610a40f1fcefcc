"""What stands in front of every FastAPI service's routes: the service token and the body.

One ASGI middleware, outside the app, so nothing a route does runs before it:
- **Service token.** With `FINERAG_SERVICE_TOKEN` set (the distributed mode; compose sets it),
  every route but the health probes needs `Authorization: Bearer <token>`, compared in constant
  time. The retrieval and ingestion services are called by the other services, never by users.
- **Body size, while it streams.** A declared `Content-Length` over the limit is a 413 before a
  byte is read; a chunked body is counted as it arrives and stops at the limit, so an oversized
  upload never sits whole in memory or on disk.
- **JSON bodies** are read once through `shared.contracts.wire_json.read_json` (depth, lone
surrogates,   `NaN`) and handed on unchanged; what it refuses is a 400 in the wire shape.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr
from starlette.exceptions import HTTPException

from shared.contracts.errors import AuthenticationError, FineRAGError, PayloadTooLargeError
from shared.contracts.wire_json import read_json
from shared.infrastructure.fastapi_errors import install_error_handling

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# What multipart framing (boundaries, part headers) may add to an upload's files.
MULTIPART_ALLOWANCE_BYTES = 1 << 20
# Probes answer without credentials (orchestrators call them).
PUBLIC_PATHS = frozenset({"/health", "/ready", "/metrics"})


class _TooLarge(HTTPException):
    """Raised inside a route's body read; FastAPI passes an HTTPException through unchanged."""


def _is_json(headers: dict[bytes, bytes]) -> bool:
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return content_type in (b"", b"application/json") or content_type.endswith(b"+json")


def _bearer(headers: dict[bytes, bytes]) -> str:
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class ServiceGuard:
    """The middleware; see the module docstring."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, service_token: SecretStr | None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.token = service_token.get_secret_value().encode("utf-8") if service_token else None

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The request body is over the limit of {self.max_body_bytes} bytes.", param="body"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        try:
            self._authenticate(scope["path"], headers)
            self._check_declared_length(headers)
            if scope["method"] in ("POST", "PUT", "PATCH") and _is_json(headers):
                receive = await self._checked_json(receive)
            else:
                receive = self._counting(receive)
        except FineRAGError as exc:
            await _answer(send, exc)
            return
        await self.app(scope, receive, send)

    def _authenticate(self, path: str, headers: dict[bytes, bytes]) -> None:
        if self.token is None or path in PUBLIC_PATHS:
            return
        given = _bearer(headers).encode("utf-8")
        if not given:
            raise AuthenticationError(
                "This service needs the service token: 'Authorization: Bearer <token>' "
                "(FINERAG_SERVICE_TOKEN).",
                code="missing_service_token",
            )
        if not hmac.compare_digest(given, self.token):
            raise AuthenticationError("Incorrect service token.", code="invalid_service_token")

    def _check_declared_length(self, headers: dict[bytes, bytes]) -> None:
        declared = headers.get(b"content-length")
        if declared is None or not (declared.isascii() and declared.isdigit()):
            return  # none, or not a number: the server's HTTP parser answers that one
        if int(declared) > self.max_body_bytes:
            raise self._too_large()

    async def _read_all(self, receive: Receive) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            part = message.get("body", b"")
            size += len(part)
            if size > self.max_body_bytes:
                raise self._too_large()
            parts.append(part)
            if not message.get("more_body", False):
                break
        return b"".join(parts)

    async def _checked_json(self, receive: Receive) -> Receive:
        body = await self._read_all(receive)
        if body:
            read_json(body)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # the disconnect, when it comes
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    def _counting(self, receive: Receive) -> Receive:
        size = 0
        limit = self.max_body_bytes

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise _TooLarge(413, self._too_large().message)
            return message

        return counted


async def _answer(send: Send, error: FineRAGError) -> None:
    body = json.dumps(error.to_body()).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_service_http(
    app: FastAPI, *, max_body_bytes: int, service_token: SecretStr | None
) -> None:
    """What every FastAPI service installs once in its app factory.

    The guard goes innermost of the three, so its own answers still get the error shape's
    request id; the error handlers and the request-id middleware come from `fastapi_errors`.
    """
    app.add_middleware(ServiceGuard, max_body_bytes=max_body_bytes, service_token=service_token)
    install_error_handling(app)
