"""Checkable claims in an answer (numbers, codes, named entities) and whether anything given
to the model supports them.

A named entity is found without a model: a run of capitalised words or codes ("Gangux K7",
"Sathfa", "Driacer Home Systems"). A capitalised word that only starts a sentence is an entity
unless it is a common sentence opener ("The", "It", "Yes"), a label ("Price:"), or the support
text uses it in lower case (then it is an ordinary word). A claim is supported when it appears in
the support text: the retrieved sources, the reference answer, and what the user wrote (the
question and earlier turns; an answer may repeat the product a customer asked about).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from services.evaluation.normalisation import canonical_text, tokenize

ClaimKind = Literal["number", "code", "entity"]

# Capitalised only because they open a sentence (or are the pronoun "I").
_OPENERS_TEXT = """
    a an the i it its it's this that these those there here yes no not our your their my we you
    they he she his her him them us me if when where what which who whom whose how why while
    because since although though however therefore also so then thus but and or nor for to
    from with without by in on at of as after before during about above below into each every
    all any some most many much more less few both either neither one please thank thanks sorry
    unfortunately sure certainly of course hello hi answer note source sources question step
    first second third next finally total based according yes
"""
_OPENERS = frozenset(_OPENERS_TEXT.split())
_WORD = re.compile(r"[^\W_][\w'-]*|[.!?:;\n]")


@dataclass(frozen=True)
class Claim:
    """Something an answer asserts that can be looked up: `text` is its canonical form."""

    kind: ClaimKind
    text: str


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper() or (any(c.isdigit() for c in word) and any(c.isalpha() for c in word))


def _entities(text: str, lowercase_vocabulary: set[str]) -> list[str]:
    words = _WORD.findall(canonical_text(text))
    runs: list[list[str]] = []
    current: list[str] = []
    sentence_start = True
    for position, word in enumerate(words):
        if word in ".!?:;\n":
            if current:
                runs.append(current)
            current, sentence_start = [], True
            continue
        starts = sentence_start
        sentence_start = False
        if not _is_capitalised(word):
            if current:
                runs.append(current)
            current = []
            continue
        lowered = word.casefold()
        label = position + 1 < len(words) and words[position + 1] == ":"
        if starts and (lowered in _OPENERS or lowered in lowercase_vocabulary or label):
            continue  # an ordinary word that opens the sentence, or a label ("Price:")
        if lowered == "i":
            continue
        current.append(word)
    if current:
        runs.append(current)
    return [" ".join(run) for run in runs]


def _lowercase_words(texts: Iterable[str]) -> set[str]:
    words = (w for text in texts for w in _WORD.findall(canonical_text(text)))
    return {w for w in words if w[:1].islower()}


def extract_claims(answer: str, support: Iterable[str] = ()) -> list[Claim]:
    """The numbers, codes and named entities of an answer (each once, in order).

    `support` only tells ordinary capitalised sentence openers from names: a word it uses in
    lower case is not a name.
    """
    lowercase = _lowercase_words(support)
    entities: list[Claim] = []
    inside: set[str] = set()  # codes that are part of a name ("K7" of "Gangux K7")
    for entity in _entities(answer, lowercase):
        tokens = tokenize(entity)
        if not tokens or all(t.kind in ("number", "code") for t in tokens):
            continue  # a bare number or code is a claim of its own
        entities.append(Claim("entity", " ".join(t.text for t in tokens)))
        inside.update(t.text for t in tokens if t.kind == "code")
    seen: dict[Claim, None] = {}
    for token in tokenize(answer):
        if token.kind == "number" or (token.kind == "code" and token.text not in inside):
            seen.setdefault(Claim(token.kind, token.text), None)
    for claim in entities:
        seen.setdefault(claim, None)
    return list(seen)


@dataclass(frozen=True)
class SupportIndex:
    """The support text in the form claims are looked up in."""

    tokens: frozenset[str]
    joined: str  # canonical tokens joined by single spaces, with spaces at both ends

    @classmethod
    def of(cls, texts: Iterable[str]) -> SupportIndex:
        """Index the retrieved sources, the reference and the user's turns."""
        texts = list(texts)
        canonical = [t.text for text in texts for t in tokenize(text)]
        per_text = [" ".join(t.text for t in tokenize(text)) for text in texts]
        return cls(frozenset(canonical), " " + " | ".join(per_text) + " ")

    def supports(self, claim: Claim) -> bool:
        """Numbers and codes as whole tokens; entities as a whole run of tokens."""
        if claim.kind in ("number", "code"):
            return claim.text in self.tokens
        return f" {claim.text} " in self.joined


def unsupported_claims(claims: Iterable[Claim], support: SupportIndex) -> list[Claim]:
    """The claims nothing given to the model contains."""
    return [claim for claim in claims if not support.supports(claim)]
