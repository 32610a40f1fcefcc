"""Whether a reply declines to answer, in the template's words or in others.

`shared.contracts.prompts.is_abstention` recognises only the template's fixed sentence, which is
what a fine-tuned model says; a base model (or a customer-facing variant) declines in its own words:
"I'm sorry, the sources don't mention that." An abstention is judged on the reply's first
sentence, so "I cannot answer that from the sources, but it costs $49" still counts as one; the
number it adds is caught by the unsupported-claim metric instead.
"""

from __future__ import annotations

import re

from services.evaluation.normalisation import canonical_text, split_sentences
from shared.contracts.prompts import final_answer, is_abstention, strip_citations

_SUBJECT = r"(?:sources?|documents?|context|passages?|information|data|text|knowledge base)"
_NEGATION = r"(?:not|n't|no|never)"
_PATTERNS = [
    # "I cannot answer that", "I'm unable to find", "we can't say"
    r"\b(?:i|we)\b[^.]{0,20}\b(?:cannot|can ?not|can't|am unable to|are unable to|'m unable to|"
    r"am not able to|'m not able to|could not|couldn't|do not|don't)\b[^.]{0,20}"
    r"\b(?:answer|find|say|tell|determine|know|provide|see|locate)\b",
    # "the sources do not contain / mention / say / include ..."
    rf"\b{_SUBJECT}\b[^.]{{0,40}}\b(?:does|do|did|is|are)?\s*{_NEGATION}\b[^.]{{0,30}}"
    r"\b(?:contain|mention|say|state|include|provide|specify|cover|answer|address|list)",
    # "there is no information about", "no mention of"
    r"\bno (?:information|mention|details?|data|record)\b",
    # "is not mentioned / specified / stated in the sources"
    r"(?:\bnot|n't) (?:mentioned|specified|stated|provided|given|listed)\b",
    # "unknown", "I don't know"
    r"^\s*(?:unknown|not known|n/a)\s*\.?\s*$",
]
_ABSTAIN = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)


def is_abstention_like(reply: str) -> bool:
    """The template's abstention sentence, or a first sentence that declines in other words."""
    if is_abstention(reply):
        return True
    text = strip_citations(final_answer(reply))
    sentences = split_sentences(canonical_text(text).replace("\u2019", "'"))
    return bool(sentences) and bool(_ABSTAIN.search(sentences[0]))
