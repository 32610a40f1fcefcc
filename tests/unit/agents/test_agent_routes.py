"""Agents on /v1/chat/completions over a scripted model: the wire shapes (steps, thread,
citations, one SSE chunk per step), the model list, the errors, and the agents' own slot."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from services.gateway.app import create_app
from services.gateway.core.agents.runner import AgentService
from shared.contracts.prompts import ABSTENTION
from tests.unit.agents.fakes import FakeRetrieval, tools_with
from tests.unit.gateway.fakes import ScriptedBackend, fake_runtime

KEY = "unit-key-1"
AUTH = {"Authorization": f"Bearer {KEY}", "X-Request-ID": "req-agent-1"}
QUESTION = "What is the total price of 3 Nimbus headphones?"
SEEN: dict[str, object] = {}  # what the agent's model client was built from


@pytest.fixture
def replies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the scripted model answers every model step, in order."""
    scripted: list[str] = []
    SEEN.clear()

    def chat_model(self: AgentService, prepared):
        SEEN["model"], SEEN["url"] = prepared.inner_model, prepared.request.gateway_url
        SEEN["key"], SEEN["request_id"] = prepared.request.api_key, prepared.request.request_id
        return tools_with(scripted).chat

    monkeypatch.setattr(AgentService, "_chat_model", chat_model)
    scripted.append("price = $149 [1]\nCalculation: 3 * price")
    return scripted


def _client(tmp_path: Path, retrieval: FakeRetrieval | None = None, **settings) -> FlaskClient:
    settings.setdefault("api_keys", KEY)
    settings.setdefault("base_model", "base")
    runtime = fake_runtime(
        tmp_path, ScriptedBackend(), retrieval=retrieval or FakeRetrieval(), **settings
    )
    return create_app(runtime.settings, runtime=runtime).test_client()


def _ask(client: FlaskClient, model: str = "agent:calculate", **body):
    payload = {
        "model": model,
        "messages": [{"role": "user", "content": QUESTION}],
        "rag": {"knowledge_base": "acme"},
        **body,
    }
    response = client.post("/v1/chat/completions", json=payload, headers=AUTH)
    response.get_data()
    response.close()
    return response


def test_an_agent_answers_with_its_steps_thread_and_citations(
    tmp_path: Path, replies, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="finerag.gateway.agents")  # steps are logged
    response = _ask(_client(tmp_path))
    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "agent:calculate"
    assert body["choices"][0]["message"]["content"].endswith("Answer: $447 [1].")
    assert [s["name"] for s in body["steps"]] == [
        "retrieve",
        "extract",
        "verify",
        "compute",
        "answer",
    ]
    assert body["agent_status"] == "answered"
    assert body["thread_id"].startswith("thread-")
    assert body["citations"][0]["doc_id"] == "products/nimbus.md"
    logged = [r for r in caplog.records if r.getMessage() == "agent step"]
    fields = [record.__dict__ for record in logged]  # the `extra` of each step's record
    assert [f["step_name"] for f in fields] == [s["name"] for s in body["steps"]]
    assert all(f["agent"] == "calculate" and f["thread_id"] == body["thread_id"] for f in fields)


def test_model_steps_go_to_the_gateway_itself_with_the_callers_key(tmp_path: Path, replies):
    assert _ask(_client(tmp_path), model="agent:calculate@tuned").status_code == 200
    assert SEEN == {
        "model": "tuned",
        "url": "http://localhost/",
        "key": KEY,
        "request_id": "req-agent-1",
    }


def test_a_stream_sends_a_chunk_per_step_then_the_answer(tmp_path: Path, replies):
    response = _ask(_client(tmp_path), stream=True)
    assert response.mimetype == "text/event-stream"
    events = [
        json.loads(line[len("data: ") :])
        for line in response.get_data(as_text=True).splitlines()
        if line.startswith("data: {")
    ]
    steps = [e["finerag_step"]["name"] for e in events if "finerag_step" in e]
    assert steps == ["retrieve", "extract", "verify", "compute", "answer"]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text.endswith("Answer: $447 [1].")
    last = events[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["agent_status"] == "answered"
    assert last["citations"][0]["doc_id"] == "products/nimbus.md"
    assert response.get_data(as_text=True).endswith("data: [DONE]\n\n")


def test_an_unparseable_step_is_an_abstention_not_an_error(tmp_path: Path, replies):
    replies[:] = ["%%% nothing useful %%%"]
    response = _ask(_client(tmp_path))
    assert response.status_code == 200
    body = response.get_json()
    assert body["choices"][0]["message"]["content"] == ABSTENTION
    assert body["agent_status"] == "abstained"
    assert body["steps"][-1]["name"] == "abstain"


def test_a_retrieval_timeout_is_an_abstention_not_an_error(tmp_path: Path, replies):
    response = _ask(_client(tmp_path, FakeRetrieval(down=True)), stream=True)
    assert response.status_code == 200
    assert ABSTENTION in response.get_data(as_text=True)


def test_models_lists_the_agents(tmp_path: Path, replies):
    client = _client(tmp_path)
    ids = [m["id"] for m in client.get("/v1/models", headers=AUTH).get_json()["data"]]
    assert {"agent:research", "agent:calculate", "agent:support"} <= set(ids)
    one = client.get("/v1/models/agent:support", headers=AUTH).get_json()
    assert one["id"] == "agent:support"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "agent:nope"}, 404, "model"),
        ({"model": "agent:research@no-such-model"}, 404, "model"),
        ({"rag": None}, 400, "rag"),
        ({"thread_id": "bad id with spaces"}, 400, "thread_id"),
    ],
)
def test_bad_agent_requests_are_4xx(tmp_path: Path, replies, body: dict, status: int, param):
    payload = {
        "model": "agent:calculate",
        "messages": [{"role": "user", "content": QUESTION}],
        "rag": {"knowledge_base": "acme"},
        **body,
    }
    response = _client(tmp_path).post("/v1/chat/completions", json=payload, headers=AUTH)
    assert response.status_code == status
    assert response.get_json()["error"]["param"] == param


def test_agents_have_their_own_cap_and_give_the_gateway_slot_back(tmp_path: Path, replies):
    client = _client(tmp_path, agent_max_concurrency=1, max_concurrency=1)
    # With one gateway slot, an agent that kept it would leave none for anyone.
    assert _ask(client).status_code == 200
    assert _ask(client).status_code == 200
    runtime = client.application.extensions["finerag_gateway"]
    assert runtime.agents.limit.in_flight == 0
    assert runtime.concurrency.in_flight == 0
