"""Abstention in any words, and claims (numbers, codes, names) checked against their support."""

from __future__ import annotations

import pytest

from services.evaluation.abstention import is_abstention_like
from services.evaluation.claims import (
    Claim,
    SupportIndex,
    extract_claims,
    unsupported_claims,
)
from services.evaluation.scoring import score_reply
from shared.contracts.prompts import ABSTENTION
from shared.contracts.schemas import QACase, SearchHit


@pytest.mark.parametrize(
    "reply",
    [
        ABSTENTION,
        f"{ABSTENTION} [1]",
        "i cannot answer that from the provided sources",
        "I can't answer that from the provided sources.",
        "I’m sorry, the sources don’t mention the noise level.",
        "The provided documents do not contain this information [2].",
        "There is no information about the noise level.",
        "The noise level is not specified in the sources.",
        "I don't know.",
        "Unknown.",
        "Step 1: nothing relevant.\nAnswer: I cannot answer that from the provided sources.",
    ],
)
def test_abstentions_in_other_words(reply: str):
    assert is_abstention_like(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "Sathfa [1].",
        "The warranty does not cover water damage [2].",
        "Batteries are not included.",
        "No, it ships in 5 days.",
        "",
        "[1]",
    ],
)
def test_answers_are_not_abstentions(reply: str):
    assert not is_abstention_like(reply)


SOURCE = "The Gangux K7 water filter is assembled in Sathfa. It costs $1,249 and ships in 3 days."


def test_claims_are_numbers_codes_and_names():
    claims = extract_claims(
        "The Gangux K7 is made in Brumzoun, costs $1,250 and has code SK-660-D.", [SOURCE]
    )
    assert claims == [
        Claim("number", "1250"),
        Claim("code", "sk-660-d"),
        Claim("entity", "gangux k7"),
        Claim("entity", "brumzoun"),
    ]


def test_ordinary_capitalised_sentence_openers_are_not_names():
    assert (
        extract_claims("Unfortunately it ships late. Yes. It is assembled there.", [SOURCE]) == []
    )
    # the heuristic's known limit: an uncommon opener reads as a name
    assert extract_claims("Sadly it ships late.", [SOURCE]) == [Claim("entity", "sadly")]
    # a word the support uses in lower case is an ordinary word, not a name
    assert extract_claims("Ships in 3 days.", [SOURCE]) == [Claim("number", "3")]


def test_labels_that_open_a_line_are_not_names():
    assert extract_claims("Price: $1,249\nWeight: 7.6 kg", []) == [
        Claim("number", "1249"),
        Claim("number", "7.6"),
    ]


def test_unsupported_claims_are_those_nothing_given_contains():
    support = SupportIndex.of([SOURCE, "$1,249", "Where is the Gangux K7 made?"])
    claims = extract_claims("The Gangux K7 is assembled in Brumzoun for $1,249.00.", [SOURCE])
    assert unsupported_claims(claims, support) == [Claim("entity", "brumzoun")]


CASE = QACase(id="c1", question="How much is the Gangux K7?", answer="$1,249",
              source_ids=["products/gangux-k7.md"], type="factual")  # fmt: skip
UNANSWERABLE = QACase(id="u1", question="How loud is the Gangux K7?", answer=None,
                      type="unanswerable")  # fmt: skip
HIT = SearchHit(chunk_id="k1", doc_id="products/gangux-k7.md", source="s", text=SOURCE, score=1.0)


def test_a_correct_grounded_answer_hallucinates_nothing():
    scores = score_reply(CASE, "The Gangux K7 costs $1,249 [1].", finish_reason="stop",
                         hits=[HIT], user_text=[CASE.question])  # fmt: skip
    assert scores.correct
    assert scores.exact_match is False
    assert not scores.hallucinated
    assert scores.claims == ["number:1249", "entity:gangux k7"]
    assert scores.unsupported_claims == []
    assert scores.citation_precision == 1.0
    assert scores.citation_recall == 1.0
    assert scores.sentences == 1
    assert scores.supported_sentences == 1


def test_an_invented_number_is_a_hallucination_even_without_rag():
    scores = score_reply(CASE, "It costs $999.", finish_reason="length", hits=None,
                         user_text=[CASE.question])  # fmt: skip
    assert scores.hallucinated
    assert scores.unsupported_claims == ["number:999"]
    assert not scores.stopped
    assert scores.sentences is None  # faithfulness needs sources


@pytest.mark.parametrize(
    ("reply", "false_answer", "abstained"),
    [
        ("I cannot answer that from the provided sources.", False, True),
        ("Sorry, the sources do not say how loud it is.", False, True),
        ("It runs at 42 dB [1].", True, False),
        ("", False, False),  # an empty reply is no answer, but not an abstention either
        ("[1]", False, False),
    ],
)
def test_unanswerable_questions(reply: str, false_answer: bool, abstained: bool):
    scores = score_reply(UNANSWERABLE, reply, finish_reason="stop", hits=[HIT],
                         user_text=[UNANSWERABLE.question])  # fmt: skip
    assert scores.false_answer is false_answer
    assert scores.abstained is abstained
    assert scores.handled is abstained
    assert scores.hallucinated is false_answer
    assert scores.exact_match is None
    assert scores.correct is None
