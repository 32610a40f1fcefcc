"""The research agent's check: every fact an answer cites must be written in its source.

A fact is a number (an amount, a weight, a count) or a code (`X7-200`, `E-204`). Each sentence
that states one must cite a source, and the cited sources must contain it; an answer that
cites nothing, or cites a source that does not exist, fails too. The abstention sentence needs
no source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.contracts.agent_prompts import numbers_in
from shared.contracts.prompts import is_abstention, parse_citations, strip_citations

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)|\n+")
_CODE = re.compile(
    r"\b(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+\b"
)


def unsupported_facts(answer: str, sources: Sequence[str]) -> list[str]:
    """What in `answer` its citations do not support (empty: the answer passes the check)."""
    if is_abstention(answer):
        return []
    cited_anywhere = parse_citations(answer)
    if not cited_anywhere:
        return ["the answer cites no source"]
    problems = [f"[{i}] is not a source" for i in cited_anywhere if not 1 <= i <= len(sources)]
    for sentence in _sentences(answer):
        cited = [i for i in parse_citations(sentence) if 1 <= i <= len(sources)]
        plain = strip_citations(sentence)
        numbers, codes = numbers_in(plain), _CODE.findall(plain)
        if not numbers and not codes:
            continue
        if not cited:
            problems.append(f"uncited fact: {plain[:80]!r}")
            continue
        text = "\n".join(sources[i - 1] for i in cited)
        missing = sorted(str(n) for n in numbers - numbers_in(text))
        missing += [c for c in codes if c.lower() not in text.lower()]
        if missing:
            problems.append(f"not in source {cited}: {', '.join(missing)}")
    return problems


def _sentences(text: str) -> list[str]:
    """Sentences, a citation after a full stop joined to its sentence."""
    pieces = [p.strip() for p in _SENTENCE.split(text) if p.strip()]
    joined: list[str] = []
    for piece in pieces:
        if joined and re.fullmatch(r"(\[\d{1,3}\]\s*)+\.?", piece):
            joined[-1] += " " + piece
        else:
            joined.append(piece)
    return joined
