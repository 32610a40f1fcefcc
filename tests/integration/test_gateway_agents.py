"""Agents through the real gateway: gunicorn serving the tiny model, the real retrieval service
over the sample domain, the official `openai` SDK as the caller, and the agents' own model
steps going back to the gateway through LangChain's ChatOpenAI.

The tiny model cannot read, so its extraction never parses: the calculate agent must end in
the abstention sentence with its steps, never a 500 or a loop. The support case needs no
reading: a simulated customer opens a return, the gateway is restarted while the case waits
for the purchase date, and the case resumes on the new process and is decided by the policy.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import openai
import pytest

from shared.contracts.prompts import ABSTENTION
from tests.integration.gateway_processes import REPO, gateway_env, running_gateway
from tests.integration.test_gateway_rag import KB, retrieval_url

pytestmark = pytest.mark.integration

__all__ = ["retrieval_url"]  # the module-scoped retrieval service fixture, shared


@pytest.fixture(scope="module")
def agent_env(retrieval_url: str, tiny_model_dir: Path, tmp_path_factory) -> dict[str, str]:
    return gateway_env(
        base_model=str(tiny_model_dir),
        data_dir=str(tmp_path_factory.mktemp("agent-gateway-data")),
        retrieval_url=retrieval_url,
        default_max_tokens="8",
        agent_step_max_tokens="12",
        api_keys="agents-test-key",
    )


@pytest.fixture(scope="module")
def gateway(agent_env: dict[str, str], tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("agent-gateway-log") / "gateway.log"
    with running_gateway(agent_env, log) as url:
        yield url


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{url}/v1", api_key="agents-test-key", max_retries=0, timeout=300
    )


def test_agents_are_listed_as_models(gateway: str):
    ids = {m.id for m in _client(gateway).models.list().data}
    assert {"agent:research", "agent:calculate", "agent:support"} <= ids


def test_an_unparseable_model_step_ends_in_an_abstention_with_its_steps(gateway: str):
    answer = _client(gateway).chat.completions.create(
        model="agent:calculate",
        messages=[{"role": "user", "content": "What do 3 units of the cheapest speaker cost?"}],
        extra_body={"rag": {"knowledge_base": KB}},
        extra_headers={"X-Request-ID": "req-calc-1"},
    )
    assert answer.choices[0].message.content == ABSTENTION
    extra = answer.model_extra or {}
    assert extra["agent_status"] == "abstained"
    names = [step["name"] for step in extra["steps"]]
    assert names == ["retrieve", "extract", "abstain"]
    # The extract step's text came from the model, through the gateway's own API.
    assert "cannot be parsed" in extra["steps"][1]["output"]


def test_a_streamed_agent_sends_each_step_then_the_answer(gateway: str):
    stream = _client(gateway).chat.completions.create(
        model="agent:research",
        messages=[{"role": "user", "content": "What is the warranty of the newest speaker?"}],
        stream=True,
        extra_body={"rag": {"knowledge_base": KB}},
    )
    chunks = list(stream)
    steps = [c.model_extra["finerag_step"] for c in chunks if "finerag_step" in c.model_extra]
    assert [s["name"] for s in steps][:3] == ["decompose", "retrieve", "answer_part"]
    assert len(steps) <= 16 + 1  # the budget, and the closing step
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text  # an answer or the abstention, always something
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["agent_status"] in ("answered", "abstained")


def _returns_window(domain) -> int:
    text = (domain.kb_dir / "policies" / "returns.html").read_text(encoding="utf-8")
    match = re.search(r"Returns window\D{0,40}?(\d+)\s*days", text)
    assert match, "the sample domain states a returns window"
    return int(match.group(1))


def _open_case(client: openai.OpenAI) -> tuple[str, str]:
    answer = client.chat.completions.create(
        model="agent:support",
        messages=[{"role": "user", "content": "Hello, I would like to return my headphones."}],
        extra_body={"rag": {"knowledge_base": KB}},
    )
    extra = answer.model_extra or {}
    assert extra["agent_status"] == "waiting"
    return extra["thread_id"], answer.choices[0].message.content or ""


def _reply(client: openai.OpenAI, thread_id: str, history: list[Any], text: str):
    return client.chat.completions.create(
        model="agent:support",
        messages=[*history, {"role": "user", "content": text}],
        extra_body={"rag": {"knowledge_base": KB}, "thread_id": thread_id},
    )


def test_a_support_case_waits_survives_a_restart_and_is_decided(
    agent_env: dict[str, str], sample_domain, tmp_path: Path
):
    window = _returns_window(sample_domain)
    today = date.today()
    cases = {  # purchase date -> the decision the policy gives
        today - timedelta(days=window): "accepted",
        today - timedelta(days=2): "accepted",
        today - timedelta(days=window + 1): "declined",
    }
    with running_gateway(agent_env, tmp_path / "first.log") as url:
        client = _client(url)
        opened = {bought: _open_case(client) for bought in cases}
        # The customer has not answered yet; a second unreadable answer goes to a person.
        handover_thread, asked = _open_case(client)
        history = [{"role": "assistant", "content": asked}]
        again = _reply(client, handover_thread, history, "I do not remember, sorry")
        assert again.model_extra["agent_status"] == "waiting"

    with running_gateway(agent_env, tmp_path / "second.log") as url:  # a new process
        client = _client(url)
        for bought, decision in cases.items():
            thread_id, question = opened[bought]
            history = [
                {"role": "user", "content": "Hello, I would like to return my headphones."},
                {"role": "assistant", "content": question},
            ]
            answer = _reply(client, thread_id, history, f"I bought them on {bought:%d %B %Y}.")
            extra = answer.model_extra or {}
            assert extra["agent_status"] == "answered", extra["steps"]
            assert extra["thread_id"] == thread_id
            content = answer.choices[0].message.content or ""
            assert f"{window}-day returns window [1]" in content
            assert ("accepted" in content) == (decision == "accepted"), content
            assert extra["citations"][0]["doc_id"] == "policies/returns.html"
        last = _reply(client, handover_thread, [], "still no idea")
        assert last.model_extra["agent_status"] == "handed_over"


def _example() -> ModuleType:
    path = REPO / "docs" / "examples" / "langchain_client.py"
    spec = importlib.util.spec_from_file_location("langchain_client_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_langchain_example_streams_and_runs_its_own_graph(
    gateway: str, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FINERAG_API_KEY", "agents-test-key")
    example = _example()
    llm = example.chat_model(gateway, str(tiny_model_dir), KB)
    pieces = list(example.stream_answer(llm, "What is the returns window?"))
    assert len(pieces) >= 2  # streamed, not one block
    graph = example.support_reply_graph(
        example.chat_model(gateway, "agent:research", KB),
        example.chat_model(gateway, str(tiny_model_dir)),
    )
    state = graph.invoke({"question": "What is the warranty of the newest speaker?"})
    assert state["draft"]  # the research agent's answer (the tiny model: an abstention)
    assert state["reply"]  # the writer model's reply, from the same gateway
