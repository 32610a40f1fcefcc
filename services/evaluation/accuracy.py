"""Accuracy against the reference answer: normalised exact match, token F1, answer correct.

All three score the scored part of a reply (`normalisation.answer_text`: the step-by-step answer
line, citations removed; they apply it themselves) and share one rule: every number, amount and
code of the reference must appear exactly in the answer, or the answer earns nothing.
"""

from __future__ import annotations

from collections import Counter

from services.evaluation.abstention import is_abstention_like
from services.evaluation.normalisation import answer_text, answer_tokens, critical_tokens


def _criticals_present(answer: str, reference: str) -> bool:
    have = Counter(critical_tokens(answer))
    need = Counter(critical_tokens(reference))
    return all(have[token] >= count for token, count in need.items())


def exact_match(answer: str, reference: str) -> bool:
    """The normalised token sequences are equal (case, articles, punctuation, number format
    and citations do not matter)."""
    answer = answer_text(answer)
    return bool(answer_tokens(reference)) and answer_tokens(answer) == answer_tokens(reference)


def token_f1(answer: str, reference: str) -> float:
    """SQuAD token F1 over normalised tokens; 0 when a number or code of the reference is
    missing from the answer."""
    answer = answer_text(answer)
    predicted, gold = answer_tokens(answer), answer_tokens(reference)
    if not predicted or not gold or not _criticals_present(answer, reference):
        return 0.0
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def answer_correct(answer: str, reference: str) -> bool:
    """The reference appears in the answer as a run of whole tokens, every number and code of
    it exactly, and the answer is not an abstention ("It costs $49 [1]." for "$49")."""
    answer = answer_text(answer)
    gold = answer_tokens(reference)
    predicted = answer_tokens(answer)
    if not gold or not predicted or is_abstention_like(answer):
        return False
    if not _criticals_present(answer, reference):
        return False
    width = len(gold)
    return any(predicted[i : i + width] == gold for i in range(len(predicted) - width + 1))
