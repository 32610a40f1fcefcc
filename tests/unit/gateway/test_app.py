"""The gateway app factory: /health, request ids, and every error in the wire shape."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask

from services.gateway.app import create_app
from shared.contracts.errors import NotFoundError, RateLimitError
from shared.infrastructure.settings import Settings


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    app = create_app(Settings(_env_file=None, data_dir=tmp_path, max_body_bytes=1024))

    @app.post("/echo")
    def echo() -> dict:
        from flask import request

        return {"size": len(request.get_data())}

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("secret internal detail")

    @app.get("/missing")
    def missing() -> dict:
        raise NotFoundError("The model 'x' does not exist.", param="model", code="model_not_found")

    @app.get("/limited")
    def limited() -> dict:
        raise RateLimitError("Slow down.", retry_after_s=7)

    return app


def _assert_wire_error(body: dict, type_: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "code", "param"}
    assert body["error"]["type"] == type_
    assert body["error"]["message"]


def test_health_answers_with_a_request_id(app: Flask):
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert response.headers["X-Request-ID"].startswith("req-")


def test_request_id_from_the_caller_is_echoed(app: Flask):
    response = app.test_client().get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


def test_unknown_route_is_a_wire_404(app: Flask):
    response = app.test_client().get("/v1/nothing-here")
    assert response.status_code == 404
    _assert_wire_error(response.json, "not_found_error")


def test_wrong_method_is_a_wire_405(app: Flask):
    response = app.test_client().post("/health")
    assert response.status_code == 405
    _assert_wire_error(response.json, "invalid_request_error")


def test_domain_error_keeps_code_and_param(app: Flask):
    response = app.test_client().get("/missing")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "model_not_found"
    assert response.json["error"]["param"] == "model"


def test_rate_limit_sets_retry_after(app: Flask):
    response = app.test_client().get("/limited")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    _assert_wire_error(response.json, "rate_limit_error")


def test_unexpected_error_is_a_500_without_traceback(app: Flask):
    app.testing = False  # the test client would otherwise re-raise
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    _assert_wire_error(response.json, "server_error")
    text = response.get_data(as_text=True)
    assert "secret internal detail" not in text
    assert "Traceback" not in text


def test_body_over_the_limit_is_413(app: Flask):
    client = app.test_client()
    assert client.post("/echo", data=b"x" * 1000).json == {"size": 1000}
    response = client.post("/echo", data=b"x" * 2000)
    assert response.status_code == 413
    _assert_wire_error(response.json, "invalid_request_error")


def test_chunked_body_over_the_limit_is_413(app: Flask):
    # No Content-Length: the limit must hold while the body streams in. A WSGI server that
    # decodes chunked bodies (gunicorn) marks the stream terminated, as done here.
    client = app.test_client()
    small = client.post(
        "/echo",
        input_stream=io.BytesIO(b"y" * 512),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert small.json == {"size": 512}
    response = client.post(
        "/echo",
        input_stream=io.BytesIO(b"y" * 5120),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
