"""The gateway's Flask app factory: blueprints, request ids, guards, and the one error handler.

Run it with `finerag serve gateway` (gunicorn, one worker process with threads: the model lives
in that process, and concurrent requests meet in its batch scheduler).
"""

from __future__ import annotations

import io
import logging
import uuid

import redis
from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from services.gateway.api.completions import completions_bp
from services.gateway.api.deps import attach_runtime, defer_runtime, ensure_runtime
from services.gateway.api.feedback import feedback_bp
from services.gateway.api.fine_tuning import fine_tuning_bp
from services.gateway.api.guards import install_guards
from services.gateway.api.health import health_bp
from services.gateway.api.models import models_bp
from services.gateway.api.prometheus import metrics_bp
from services.gateway.core.runtime import GatewayRuntime, build_runtime
from shared.contracts.errors import (
    FineRAGError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    error_body,
    error_body_for_status,
)
from shared.infrastructure.logs import request_id_var
from shared.infrastructure.settings import Settings, get_settings

log = logging.getLogger("finerag.gateway")

REQUEST_ID_HEADER = "X-Request-ID"


def create_app(
    settings: Settings | None = None,
    *,
    runtime: GatewayRuntime | None = None,
    warm: bool = False,
) -> Flask:
    """Build a gateway app; `settings` defaults to the process settings from the environment.

    The runtime (model, stores, clients) is built from the settings on first use unless one is
    handed in; `warm=True` builds it now, so the model starts loading at startup.
    """
    app = Flask("finerag.gateway")
    settings = settings or get_settings()
    app.config["FINERAG_SETTINGS"] = settings
    # Werkzeug refuses bodies over this with a 413 before any route reads them (chunked too).
    app.config["MAX_CONTENT_LENGTH"] = app.config["FINERAG_SETTINGS"].max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    _install_request_ids(app)
    _install_body_limit(app)
    _install_error_handlers(app)
    install_guards(app)
    blueprints = (health_bp, models_bp, completions_bp, feedback_bp, fine_tuning_bp, metrics_bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    if runtime is not None:
        attach_runtime(app, runtime)
    else:
        defer_runtime(app, lambda: build_runtime(settings))
        if warm:
            ensure_runtime(app)
    return app


def _install_request_ids(app: Flask) -> None:
    @app.before_request
    def _bind_request_id() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if 0 < len(incoming) <= 128 else f"req-{uuid.uuid4().hex[:16]}"
        g.request_id = request_id
        g.request_id_token = request_id_var.set(request_id)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response

    @app.teardown_request
    def _unbind_request_id(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)


def _install_body_limit(app: Flask) -> None:
    """413 for bodies over the limit, chunked ones included.

    Werkzeug checks Content-Length against MAX_CONTENT_LENGTH, but a chunked body (no
    Content-Length) is silently cut at the limit, which would turn an oversized request into a
    confusing 400. So a body without a length is read here, up to one byte past the limit.
    """

    @app.before_request
    def _buffer_unsized_body() -> None:
        if request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
            return
        limit = app.config["MAX_CONTENT_LENGTH"]
        stream = request.environ["wsgi.input"]
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLargeError(
                f"The request body is over the limit of {limit} bytes.", param="body"
            )
        # The rest of the request reads the buffered body, still bounded by the limit.
        request.environ["wsgi.input"] = io.BytesIO(data)
        request.__dict__.pop("stream", None)


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(FineRAGError)
    def _domain_error(exc: FineRAGError) -> tuple[Response, int, dict[str, str]]:
        if exc.status >= 500:
            log.error("request failed: %s", exc.message, extra={"code": exc.code})
        return jsonify(exc.to_body()), exc.status, exc.headers

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        return jsonify(error_body_for_status(status, exc.description or exc.name)), status

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def _store_down(exc: redis.RedisError) -> tuple[Response, int, dict[str, str]]:
        # The job store and the files' records live in Redis: down is a 503, not our bug.
        return _domain_error(
            ServiceUnavailableError(
                f"The job store (Redis) is unreachable: {type(exc).__name__}.",
                code="store_unavailable",
                retry_after_s=5,
            )
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        # Ours, not the caller's: log the traceback, answer without it.
        log.exception("unhandled error")
        body = error_body(
            "The server had an internal error.", type_="server_error", code="internal_error"
        )
        return jsonify(body), 500
