"""The agent graphs over a scripted model and a fake knowledge base: the path each question
takes, and every bad step ending in an abstention or a hand-over within the budget."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from services.gateway.core.agents import calculate, research, support
from shared.contracts.prompts import ABSTENTION
from tests.unit.agents.fakes import FakeRetrieval, tools_with


def _names(state: dict) -> list[str]:
    return [step["name"] for step in state["steps"]]


def test_research_answers_each_part_then_composes_a_checked_answer():
    tools = tools_with(
        [
            "- Which headphones model does error E-42 affect?\n- What is the price of that model?",
            "Error E-42 affects the NB-200 [1].",
            "The NB-200 costs $149 [2].",
            "The headphones with error E-42 are the NB-200 [1], which costs $149 [2].",
        ]
    )
    question = "What is the price of the headphones model affected by error E-42?"
    state = research.build(tools).invoke(research.start(question, []))
    assert state["status"] == "answered"
    assert "$149" in state["answer"]
    assert _names(state) == [
        "decompose",
        *(["retrieve", "answer_part"] * 2),
        "compose",
        "check",
    ]
    # One numbering for the whole run: [2] is the product page in the composed answer.
    cited = state["sources"][1]
    assert "$149" in cited["text"]


def test_research_answers_a_chain_of_parts_with_its_last_part():
    tools = tools_with(
        [
            "- Which headphones model does error E-42 affect?\n- What is the price of that model?",
            "NB-200 [3]",
            "$149 [2]",
            ABSTENTION,  # what a model asked to compose might say: never asked
        ]
    )
    question = "What is the price of the headphones model affected by error E-42?"
    state = research.build(tools).invoke(research.start(question, []))
    assert state["status"] == "answered"
    assert state["answer"] == "$149 [2]"
    assert [s["name"] for s in state["steps"]][-2:] == ["compose", "check"]


def test_research_has_the_model_compose_parts_that_do_not_chain():
    tools = tools_with(
        [
            "- What does the NB-200 cost?\n- What does the OR-310 cost?",
            "$149 [2]",
            "$1,249.50 [3]",
            "The NB-200 is cheaper: $149 [2] against $1,249.50 [3].",
        ]
    )
    state = research.build(tools).invoke(research.start("Which is cheaper, NB-200 or OR-310?", []))
    assert state["status"] == "answered"
    assert state["answer"].startswith("The NB-200 is cheaper")


def test_research_retries_once_then_abstains_when_a_cited_fact_is_not_in_its_source():
    tools = tools_with(["- What does the NB-200 cost?", "It costs $999 [1]."])
    state = research.build(tools).invoke(research.start("What does the NB-200 cost?", []))
    assert state["answer"] == ABSTENTION
    assert state["status"] == "abstained"
    assert _names(state)[-5:] == ["compose", "check", "compose", "check", "abstain"]
    assert "999" in state["steps"][-1]["input"]


def test_research_asks_an_undecomposable_question_whole():
    tools = tools_with(["no idea how to split that", "The NB-200 costs $149 [2]."])
    question = "What does the NB-200 cost?"
    state = research.build(tools).invoke(research.start(question, []))
    assert state["sub_questions"] == [question]
    assert state["status"] == "answered"


def test_a_retrieval_timeout_ends_in_an_abstention():
    tools = tools_with(["- What does the NB-200 cost?"], FakeRetrieval(down=True))
    state = research.build(tools).invoke(research.start("What does the NB-200 cost?", []))
    assert state["answer"] == ABSTENTION
    assert "timed out" in state["steps"][-1]["input"]


def test_a_failing_model_call_ends_in_an_abstention():
    class Broken:
        def invoke(self, _messages):
            raise ConnectionError("gateway unreachable")

    tools = tools_with([])
    tools.chat = Broken()
    state = calculate.build(tools).invoke(calculate.start("What do 3 NB-200 cost?", []))
    assert state["answer"] == ABSTENTION
    assert "gateway unreachable" in state["steps"][-1]["input"]


def test_the_step_budget_ends_a_run_in_an_abstention():
    tools = tools_with(["- a first part?\n- a second part?\n- a third part?"], max_steps=3)
    state = research.build(tools).invoke(research.start("A long question?", []))
    assert state["answer"] == ABSTENTION
    # Three steps, a fourth refused by the budget, then the abstention.
    assert [step["ok"] for step in state["steps"]] == [True, True, True, False, True]
    assert "budget" in state["steps"][-1]["input"]


def test_calculate_shows_its_working_with_citations():
    tools = tools_with(["price = $149 [1]\nCalculation: 3 * price"])
    question = "What is the total price of 3 Nimbus headphones?"
    state = calculate.build(tools).invoke(calculate.start(question, []))
    assert state["status"] == "answered"
    assert state["answer"].splitlines() == [
        "price = $149 [1]",
        "3 * price = $447",
        "Answer: $447 [1].",
    ]
    assert _names(state) == ["retrieve", "extract", "verify", "compute", "answer"]


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("The total is $447.", "cannot be parsed"),
        ("price = $150 [1]\nCalculation: 3 * price", "is not in [1]"),
        ("price = $149 [9]\nCalculation: 3 * price", "which is no source"),
        ("price = $149 [1]\nCalculation: 7 * price", "numbers from nowhere"),
        ("price = $149 [1]\nCalculation: price / (3 - 3)", "calculator refused"),
        ("price = $149 [1]\nCalculation: price ** 3", "calculator refused"),
        (ABSTENTION, "model abstained"),
    ],
)
def test_calculate_abstains_on_a_bad_step(reply: str, why: str):
    question = "What is the total price of 3 Nimbus headphones?"
    state = calculate.build(tools_with([reply])).invoke(calculate.start(question, []))
    assert state["answer"] == ABSTENTION
    assert why in state["steps"][-1]["input"]


def _saver(path: Path) -> SqliteSaver:
    saver = SqliteSaver(sqlite3.connect(path, check_same_thread=False))
    saver.setup()
    return saver


def test_support_pauses_for_the_date_and_resumes_after_a_restart(tmp_path: Path):
    config = {"configurable": {"thread_id": "case-1"}}
    today = date(2025, 6, 30)
    first = support.build(tools_with(["unknown"]), _saver(tmp_path / "c.sqlite"))
    first.invoke(support.start("I want to return my Nimbus headphones.", [], today), config)
    paused = first.get_state(config)
    assert paused.interrupts[0].value == {"ask": support.ASK_DATE}

    # A new process: a new saver on the same file, a new graph.
    second = support.build(tools_with(["unknown"]), _saver(tmp_path / "c.sqlite"))
    state = second.invoke(Command(resume="I bought them on 2025-06-10."), config)
    assert state["decision"] == "accepted"
    assert "20 days ago" in state["answer"]
    assert "37-day returns window [1]" in state["answer"]


@pytest.mark.parametrize(
    ("said", "decision"),
    [
        ("bought 37 days ago", "accepted"),
        ("bought 38 days ago", "declined"),
        ("I bought it on 1 March 2025", "declined"),
        ("on June 2, 2025", "accepted"),
    ],
)
def test_support_decides_by_the_window_in_the_policy(said: str, decision: str):
    state = support.build(tools_with(["unknown"])).invoke(
        support.start(f"Can I return my speaker? I {said}.", [], date(2025, 6, 30))
    )
    assert state["decision"] == decision
    assert state["sources"][0]["doc_id"] == "policies/returns.html"


def test_support_hands_over_after_two_unreadable_dates(tmp_path: Path):
    config = {"configurable": {"thread_id": "case-2"}}
    graph = support.build(tools_with(["unknown"]), _saver(tmp_path / "c.sqlite"))
    graph.invoke(support.start("I want to return my speaker.", [], date(2025, 6, 30)), config)
    graph.invoke(Command(resume="a while back"), config)
    assert graph.get_state(config).interrupts[0].value == {"ask": support.ASK_AGAIN}
    state = graph.invoke(Command(resume="no idea, sorry"), config)
    assert state["decision"] == "handed_over"
    assert state["answer"] == support.HAND_OVER


def test_support_reads_a_date_through_the_model_when_the_rules_cannot(tmp_path: Path):
    config = {"configurable": {"thread_id": "case-3"}}
    graph = support.build(tools_with(["2025-06-25"]), _saver(tmp_path / "c.sqlite"))
    graph.invoke(support.start("Return please.", [], date(2025, 6, 30)), config)
    state = graph.invoke(Command(resume="last Wednesday"), config)
    assert state["decision"] == "accepted"


def test_support_hands_over_without_a_returns_policy():
    tools = tools_with(["unknown"], FakeRetrieval({"about.md": "We sell speakers."}))
    state = support.build(tools).invoke(support.start("Return my speaker?", []))
    assert state["decision"] == "handed_over"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-14", date(2025, 3, 14)),
        ("14th March 2025", date(2025, 3, 14)),
        ("Mar 14, 2025", date(2025, 3, 14)),
        ("2 weeks ago", date(2025, 6, 16)),
        ("yesterday", date(2025, 6, 29)),
        ("2025-02-31", None),
        ("2026-01-01", None),  # the future
        ("soon", None),
    ],
)
def test_purchase_dates_are_read_by_rule(text: str, expected: date | None):
    assert support.parse_date(text, date(2025, 6, 30)) == expected
