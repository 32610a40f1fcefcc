"""The research agent's check: every fact an answer cites must be written in its source.

A fact is a number (an amount, a weight, a count) or a code (`X7-200`, `E-204`). Each sentence
that states one must cite a source, and the cited sources must contain it; an answer that
cites nothing, or cites a source that does not exist, fails too. The abstention sentence needs
no source.

A fact a sentence states but cites the wrong source for (a small model often cites [1]) is
re-cited to the source that states it (`recite`) before the run retries or abstains: the answer
stays grounded, its citation becomes true.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

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


_CITATIONS = re.compile(r"(?:\s*\[\d{1,3}\])+")
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|[A-Za-z]+")


def recite(answer: str, sources: Sequence[str]) -> str | None:
    """`answer` with each sentence whose facts its citations do not support cited instead to
    the first source that states them; None when a sentence's facts are in no source.

    A source states a sentence's facts when it holds each of its codes and each of its numbers
    with the word after it ("27 months", "1.2 kg"): a "3" somewhere in a page does not make
    "3 months" true."""
    out = []
    for sentence in _sentences(answer):
        plain = strip_citations(sentence)
        facts = _facts(plain, alone=False)
        cited = [i for i in parse_citations(sentence) if 1 <= i <= len(sources)]
        if not facts or (cited and facts <= _facts("\n".join(sources[i - 1] for i in cited))):
            out.append(sentence)
            continue
        found = next((i for i, text in enumerate(sources, 1) if facts <= _facts(text)), 0)
        if not found:
            return None
        body = _CITATIONS.sub("", sentence).rstrip()
        stop = "." if body.endswith(".") else ""
        out.append(f"{body.removesuffix(stop)} [{found}]{stop}")
    return " ".join(out)


def _facts(text: str, *, alone: bool = True) -> set[tuple[str, ...]]:
    """The codes of `text` and its numbers, each with the word after it when one follows
    (and alone, unless `alone` is false: an answer's "27 months" needs the source's words)."""
    tokens = _TOKEN.findall(text)
    found: set[tuple[str, ...]] = {("code", c.lower()) for c in _CODE.findall(text)}
    for index, token in enumerate(tokens):
        if not token[0].isdigit():
            continue
        value = str(Decimal(token.replace(",", "").rstrip(".")).normalize())
        after = tokens[index + 1].lower() if index + 1 < len(tokens) else ""
        if after.isalpha():
            found.add(("number", value, after))
        if alone or not after.isalpha():
            found.add(("number", value))
    return found


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
