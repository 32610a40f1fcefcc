"""Sentence support by cited sources, citation precision/recall, and the LLM judge's parsing."""

from __future__ import annotations

import pytest

from services.evaluation.chat_clients import ChatRequest, ChatResult
from services.evaluation.faithfulness import (
    claim_sentences,
    judge_sentences,
    score_citations,
)
from services.evaluation.judging import LlmJudge, judge_task, parse_verdicts

SOURCES = [
    "The Aurora X2 costs $1,249. It is assembled in Sathfa.",
    "Returns are accepted within 30 days of delivery.",
]


def test_each_sentence_is_judged_against_the_sources_it_cites():
    reply = (
        "The Aurora X2 costs $1,249 [1]. Returns are accepted within 30 days [1]. "
        "It is assembled in Sathfa. Returns take 30 days [2]."
    )
    verdicts = judge_sentences(reply, SOURCES)
    assert [v.supported for v in verdicts] == [True, False, False, True]
    assert [v.cited for v in verdicts] == [(1,), (1,), (), (2,)]


def test_a_wrong_number_is_unsupported_even_with_matching_words():
    assert [v.supported for v in judge_sentences("The Aurora X2 costs $1,250 [1].", SOURCES)] == [
        False
    ]


def test_citations_to_missing_sources_support_nothing():
    verdicts = judge_sentences("The Aurora X2 costs $1,249 [7].", SOURCES)
    assert [v.supported for v in verdicts] == [False]
    assert score_citations("costs $1,249 [7][1].", ["a.md", "b.md"], ["a.md"]).invalid == 1


@pytest.mark.parametrize(
    "reply", ["", "[1]", "[1][2].", "I cannot answer that from the provided sources."]
)
def test_no_claims_in_empty_citation_only_or_declining_replies(reply: str):
    assert claim_sentences(reply) == []
    assert judge_task(reply, SOURCES) is None


def test_citation_precision_and_recall_against_gold_documents():
    scores = score_citations(
        "A [1]. B [2][3].", ["gold.md", "other.md", "gold.md"], ["gold.md", "g2.md"]
    )
    assert scores.cited_docs == ("gold.md", "other.md")
    assert scores.precision == 0.5
    assert scores.recall == 0.5
    nothing = score_citations("no marks", ["gold.md"], ["gold.md"])
    assert nothing.precision is None
    assert nothing.recall == 0.0
    assert score_citations("A [1].", ["gold.md"], []).recall is None


@pytest.mark.parametrize(
    ("reply", "supported", "error"),
    [
        ('{"verdicts": ["supported", "unsupported"]}', 1, False),
        ('Sure! ```json\n{"verdicts": ["Supported", "SUPPORTED"]}\n```', 2, False),
        ("supported, unsupported", 0, True),  # no JSON
        ('{"verdicts": ["supported"]}', 0, True),  # wrong count
        ('{"verdicts": ["yes", "no"]}', 0, True),  # unknown words
        ('{"verdict": ["supported", "supported"]}', 0, True),
        ("{not json}", 0, True),
    ],
)
def test_unparseable_verdicts_are_errors_never_nan(reply: str, supported: int, error: bool):
    outcome = parse_verdicts(reply, expected=2)
    assert (outcome.error is not None) is error
    assert outcome.supported == supported
    assert outcome.judged == (0 if error else 2)


class _Judge:
    def __init__(self, replies: list[ChatResult]) -> None:
        self.replies = replies
        self.requests: list[ChatRequest] = []

    def check_models(self, models):
        return None

    def complete(self, requests, on_done=None):
        self.requests += requests
        return self.replies[: len(requests)]

    def close(self):
        return None


def test_the_judge_sees_fenced_sources_and_numbered_statements():
    client = _Judge(
        [ChatResult('{"verdicts": ["supported"]}', "stop"), ChatResult("", "error", "boom")]
    )
    task = judge_task("It costs $1,249 [1].", SOURCES)
    assert task is not None
    outcomes = LlmJudge(client, "judge-model").judge([task, task])
    assert outcomes[0].supported == 1
    assert outcomes[0].error is None
    assert outcomes[1].error == "judge request failed: boom"
    prompt = client.requests[0].messages[-1]["content"]
    assert '<source id="1">' in prompt
    assert "1. It costs $1,249. (cites: [1])" in prompt
    assert client.requests[0].model == "judge-model"
