"""Accuracy metrics pinned on hand-made answers: normalisation, numbers, codes, unicode."""

from __future__ import annotations

import pytest

from services.evaluation.accuracy import answer_correct, exact_match, token_f1
from services.evaluation.normalisation import (
    answer_text,
    answer_tokens,
    critical_tokens,
    split_sentences,
)


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("$1,249 [1].", "$1,249"),
        ("1,200", "1200"),
        ("$49.00", "$49"),
        ("$281.70 [2]", "$281.70"),
        ("the Risvae R9.", "Risvae R9"),
        ("sk-660-d", "SK-660-D"),
        ("SK–660–D", "SK-660-D"),  # en dashes
        ("１２００ litres", "1,200 litres"),  # full-width digits
        ("Zürich", "zürich"),
        ("1:20 PM", "1:20 pm"),
        ("Step 1: read [1].\nAnswer: 27 months [1]", "27 months"),  # step-by-step answer line
    ],
)
def test_exact_match_ignores_format_but_not_content(answer: str, reference: str):
    assert exact_match(answer, reference)
    assert token_f1(answer, reference) == pytest.approx(1.0)
    assert answer_correct(answer, reference)


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("$1,250", "$1,249"),
        ("SK-660-E", "SK-660-D"),
        ("28 months", "27 months"),
        ("$49.50", "$49"),
        ("Zurich", "Zürich"),  # accents are part of a name
    ],
)
def test_numbers_amounts_and_codes_must_match_exactly(answer: str, reference: str):
    assert not exact_match(answer, reference)
    assert token_f1(answer, reference) == 0.0
    assert not answer_correct(answer, reference)


def test_token_f1_gives_partial_credit_for_words_only():
    assert token_f1("ivory and pewter", "Ivory, Pewter and Graphite") == pytest.approx(
        2 * 1.0 * 0.75 / 1.75
    )
    # the reference's number is there, the extra words cost precision
    assert token_f1("It lasts 27 months [1].", "27 months") == pytest.approx(2 * 0.5 / 1.5)


@pytest.mark.parametrize("answer", ["", "   ", "[1]", "[1][2].", "Answer:"])
def test_empty_answers_and_citation_only_answers_score_zero(answer: str):
    assert answer_text(answer) in ("", ".")
    assert not exact_match(answer, "$49")
    assert token_f1(answer, "$49") == 0.0
    assert not answer_correct(answer, "$49")


def test_correct_means_the_reference_as_whole_tokens_inside_the_answer():
    assert answer_correct("The Gangux K7 is assembled in Sathfa [1].", "Sathfa")
    assert not answer_correct("It costs $1,2490.", "$1,249")  # not a whole token
    assert not answer_correct("Graphite and Ivory", "Ivory and Graphite")  # order matters
    assert answer_correct("Ivory, Pewter and Graphite!", "Ivory, Pewter and Graphite")


def test_an_abstention_is_never_correct_even_when_it_repeats_the_reference():
    assert not answer_correct("I cannot find the price $49 in the sources.", "$49")


def test_tokens_and_criticals():
    assert answer_tokens("The price is $1,249.00 [1].") == ["price", "is", "$", "1249", "1"]
    assert critical_tokens("Call press@driacer.example about SK-660-D, 6,300 litres, K7") == [
        "press@driacer.example",
        "sk-660-d",
        "6300",
        "k7",
    ]
    assert answer_tokens("Wi-Fi module") == ["wi", "fi", "module"]
    assert answer_tokens("don't") == ["don't"]


def test_sentences_keep_a_citation_written_after_the_full_stop():
    assert split_sentences("It costs $12.50. [1] It ships in 2 days [2].\nAnswer: $12.50") == [
        "It costs $12.50. [1]",
        "It ships in 2 days [2].",
        "Answer: $12.50",
    ]
