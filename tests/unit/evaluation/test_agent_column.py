"""The agents' column over a scripted gateway: what is asked, how it is scored and reported."""

from __future__ import annotations

import json

import httpx
import pytest

from services.evaluation import agent_column
from services.evaluation.agent_column import agent_markdown, evaluate_agents
from shared.contracts.schemas import QACase

CASES = [
    QACase(id=f"mh-{i}", question=f"Q{i}?", answer="$149", source_ids=["a"], type="multi_hop")
    for i in range(6)
] + [QACase(id="fact-1", question="F?", answer="$1", source_ids=["a"], type="factual")]


def _gateway(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    assert body["rag"]["knowledge_base"] == "acme"
    if body["model"].startswith("agent:"):
        assert body["model"] == "agent:research@tuned"
        return httpx.Response(
            200,
            json={
                "choices": [{"message": {"content": "It costs $149 [1]."}}],
                "steps": [
                    {"name": "decompose", "ok": True, "output": ["Q?"]},
                    {"name": "retrieve", "ok": True, "output": ["a#0"]},
                    {"name": "answer_part", "ok": True, "output": "x" * 1000},
                    {"name": "check", "ok": True, "output": "every cited fact is in its source"},
                ],
                "agent_status": "answered",
            },
        )
    return httpx.Response(200, json={"choices": [{"message": {"content": "No idea."}}]})


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch):
    real = httpx.Client

    def client(**kwargs):
        return real(transport=httpx.MockTransport(_gateway), **kwargs)

    monkeypatch.setattr(agent_column.httpx, "Client", client)


def test_agents_are_scored_against_single_shot_rag_on_the_same_questions(scripted):
    report, answers = evaluate_agents(
        CASES,
        endpoint="http://gateway",
        api_key="k",
        model="tuned",
        kb="acme",
        agents=["research"],
        options={
            "variants": False,
            "top_k": 3,
            "max_tokens": 64,
            "concurrency": 2,
            "seed": 0,
            "bootstrap": 200,
        },
    )
    assert {a.case_id for a in answers} == {f"mh-{i}" for i in range(6)}  # reasoning only
    rag, agent = report.columns["rag"], report.columns["agent:research"]
    assert rag.accuracy.value == 0.0
    assert agent.accuracy.value == 1.0
    assert agent.gain_over_rag is not None
    assert agent.gain_over_rag.value == 1.0
    assert set(agent.gain_by_type) == {"multi_hop"}  # the only type asked
    assert agent.gain_by_type["multi_hop"].value == 1.0
    assert agent.steps_per_answer == 4.0
    assert rag.steps_per_answer is None
    trace = next(a.trace for a in answers if a.column == "agent:research")
    assert trace is not None
    assert [step["name"] for step in trace] == ["decompose", "retrieve", "answer_part", "check"]
    assert trace[1]["output"] == '["a#0"]'
    assert len(trace[2]["output"]) == agent_column.TRACE_CHARS  # clipped, so the log stays small
    assert next(a.trace for a in answers if a.column == "rag") is None
    table = "\n".join(agent_markdown(report))
    assert "| agent:research | 6 | 100.0" in table
    assert "| +100.0 [100.0, 100.0] | +100.0 [100.0, 100.0] | – |" in table  # gains: all, mh
    assert "steps/answer" in table
