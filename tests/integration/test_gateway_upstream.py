"""The gateway with the `openai` backend in front of an upstream, under gunicorn.

The upstream is a small OpenAI-compatible stand-in in this test process: it answers with a fixed
streamed text, records what it was sent, and for model `slow-upstream` holds the request open,
which lets the tests fill the gateway's concurrency cap and run into its request timeout.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.integration.gateway_processes import build_adapter, gateway_env, running_gateway

pytestmark = pytest.mark.integration

ANSWER = ["Forwarded", " by", " the", " upstream."]


class Upstream:
    """What the stand-in saw, and the switch that releases held requests."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.holding = threading.Event()
        self.release = threading.Event()


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            self._json({"object": "list", "data": [{"id": "acme-upstream", "object": "model"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            upstream.bodies.append(body)
            if body["model"] == "slow-upstream":
                upstream.holding.set()
                upstream.release.wait(30)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            key = "delta" if "messages" in body else "text"
            for piece in ANSWER:
                choice = {"delta": {"content": piece}} if key == "delta" else {"text": piece}
                self._event({"choices": [{**choice, "index": 0, "finish_reason": None}]})
            self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self._event({"choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 4}})
            self.wfile.write(b"data: [DONE]\n\n")

        def _event(self, data: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())

        def _json(self, data: dict[str, Any]) -> None:
            raw = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Upstream, str]]:
    state = Upstream()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    state.release.set()
    server.shutdown()


@pytest.fixture(scope="module")
def proxy(
    upstream: tuple[Upstream, str], tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    data = tmp_path_factory.mktemp("proxy-data")
    build_adapter(tiny_model_dir, data / "models", "acme-ft")
    env = gateway_env(
        serve_backend="openai",
        upstream_url=upstream[1],
        upstream_api_key="upstream-secret",
        upstream_models=json.dumps({"acme-ft": "acme-upstream", "slow": "slow-upstream"}),
        base_model=str(tiny_model_dir),
        data_dir=str(data),
        max_concurrency="1",
        request_timeout_s="8",
    )
    log = tmp_path_factory.mktemp("proxy-log") / "gateway.log"
    with running_gateway(env, log) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)


def test_chat_is_forwarded_with_the_upstream_name(
    proxy: openai.OpenAI, upstream: tuple[Upstream, str]
):
    answer = proxy.chat.completions.create(
        model="acme-ft", messages=[{"role": "user", "content": "hi"}], max_tokens=5, seed=3
    )
    assert answer.model == "acme-ft"
    assert answer.choices[0].message.content == "".join(ANSWER)
    assert answer.usage.prompt_tokens == 21
    assert answer.usage.completion_tokens == 4
    sent = upstream[0].bodies[-1]
    assert sent["model"] == "acme-upstream"
    assert sent["max_tokens"] == 5
    assert sent["seed"] == 3


def test_stream_and_completions_are_forwarded(proxy: openai.OpenAI):
    chunks = proxy.chat.completions.create(
        model="acme-ft", messages=[{"role": "user", "content": "hi"}], max_tokens=5, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "".join(ANSWER)
    text = proxy.completions.create(model="acme-ft", prompt="once", max_tokens=4)
    assert text.choices[0].text == "".join(ANSWER)


def test_concurrency_cap_is_503_at_once_and_timeout_ends_the_request(
    proxy: openai.OpenAI, upstream: tuple[Upstream, str]
):
    state = upstream[0]
    outcome: dict[str, Exception] = {}

    def hold_the_only_slot() -> None:
        try:
            proxy.chat.completions.create(
                model="slow", messages=[{"role": "user", "content": "wait"}], max_tokens=2
            )
        except Exception as exc:
            outcome["slow"] = exc

    holder = threading.Thread(target=hold_the_only_slot)
    holder.start()
    assert state.holding.wait(30), "the slow request never reached the upstream"
    with pytest.raises(openai.InternalServerError) as raised:
        proxy.chat.completions.create(
            model="acme-ft", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert raised.value.status_code == 503
    assert raised.value.body["code"] == "overloaded"  # type: ignore[index]
    holder.join(60)
    slow = outcome["slow"]
    assert isinstance(slow, openai.InternalServerError)
    assert slow.body["code"] == "request_timeout"  # type: ignore[attr-defined]
    state.release.set()
