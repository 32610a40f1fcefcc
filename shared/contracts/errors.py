"""The one error shape on the wire, and the domain errors that map onto it.

Cores raise these; each service has one handler that turns them into
`{"error": {"message", "type", "code", "param"}}` with the class's HTTP status. A 4xx is the
caller's mistake, a 5xx ours; a client never sees a traceback.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FineRAGError(Exception):
    """Base of every error a FineRAG service reports to a caller."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        """This error in the wire shape."""
        return error_body(self.message, type_=self.type, code=self.code, param=self.param)


class InvalidRequestError(FineRAGError):
    """The request is malformed or names impossible values (400)."""

    status = 400
    type = "invalid_request_error"
    default_code = "invalid_request"


class AuthenticationError(FineRAGError):
    """No API key, or one that is not configured (401)."""

    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class NotFoundError(FineRAGError):
    """The named model, job, file or knowledge base does not exist (404)."""

    status = 404
    type = "not_found_error"
    default_code = "not_found"


class ConflictError(FineRAGError):
    """The resource is in a state that forbids the operation (409)."""

    status = 409
    type = "conflict_error"
    default_code = "conflict"


class PayloadTooLargeError(FineRAGError):
    """The body or an uploaded file is over the size limit (413)."""

    status = 413
    type = "invalid_request_error"
    default_code = "payload_too_large"


class UnsupportedMediaTypeError(FineRAGError):
    """A file type or content type the service cannot read (415)."""

    status = 415
    type = "invalid_request_error"
    default_code = "unsupported_media_type"


class RateLimitError(FineRAGError):
    """Too many requests for this key; `Retry-After` says when to come back (429)."""

    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: int, **kwargs: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_s))}, **kwargs)
        self.retry_after_s = retry_after_s


class ServiceUnavailableError(FineRAGError):
    """Overloaded or a dependency is down; `Retry-After` says when retrying may succeed (503)."""

    status = 503
    type = "server_error"
    default_code = "service_unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 1, **kwargs: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_s))}, **kwargs)
        self.retry_after_s = retry_after_s


class UpstreamError(FineRAGError):
    """A service this one depends on answered with an error (502)."""

    status = 502
    type = "server_error"
    default_code = "upstream_error"


def error_body(
    message: str, *, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """The wire error shape: `{"error": {"message", "type", "code", "param"}}`."""
    return {"error": {"message": message, "type": type_, "code": code, "param": param}}


_STATUS_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("conflict_error", "conflict"),
    413: ("invalid_request_error", "payload_too_large"),
    414: ("invalid_request_error", "uri_too_long"),
    415: ("invalid_request_error", "unsupported_media_type"),
    417: ("invalid_request_error", "expectation_failed"),
    422: ("invalid_request_error", "invalid_request"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    431: ("invalid_request_error", "headers_too_large"),
    501: ("invalid_request_error", "not_implemented"),
}


def error_body_for_status(status: int, message: str) -> dict[str, Any]:
    """The wire shape for a bare HTTP status (framework errors such as 404 or 405)."""
    type_, code = _STATUS_TYPES.get(status, ("server_error", "internal_error"))
    return error_body(message, type_=type_, code=code)
