"""Answer text as the metrics compare it: tokens with numbers, amounts and codes made canonical.

A token has a kind. `number` and `code` tokens are the *critical* ones: they must match exactly
(no partial credit), while words are compared after lower-casing. The rules, pinned in the unit
tests and documented in docs/evaluation.md:

- Unicode is NFKC-normalised (full-width digits, non-breaking spaces) and every dash is a hyphen.
- Numbers lose thousands separators and trailing decimal zeros: "1,200" = "1200",
  "$49.00" = "$49", "281.70" = "281.7". A currency sign or "%" is a token of its own.
- Times ("1:20") are one number token.
- Codes are hyphenated tokens with a digit ("SK-660-D", "T-928"), letter-digit mixes ("K7") and
  e-mail addresses; a code is one token, compared case-insensitively, so "SK-660-E" earns nothing
  against "SK-660-D".
- Words are case-folded; English articles and punctuation are dropped (SQuAD-style).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from shared.contracts.prompts import final_answer, strip_citations

TokenKind = Literal["word", "number", "code", "symbol"]

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"), "-")
_ARTICLES = frozenset({"a", "an", "the"})
_TOKEN = re.compile(
    r"""
    (?P<email>[^\W_][\w.+-]*@[^\W_][\w-]*(?:\.[\w-]+)+)
   |(?P<code>(?=[\w-]*\d)[^\W_]+(?:-[^\W_]+)+)          # hyphenated with a digit: SK-660-D
   |(?P<time>\d{1,2}:\d{2}(?!\d))
   |(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?)
   |(?P<word>[^\W_]+(?:'[^\W\d_]+)?)                   # words; letter-digit mixes are codes
   |(?P<symbol>[$€£¥%])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    """One comparable unit of an answer."""

    text: str  # canonical form
    kind: TokenKind
    surface: str  # as written


def canonical_text(text: str) -> str:
    """NFKC-normalised text with every dash a hyphen."""
    return unicodedata.normalize("NFKC", text).translate(_DASHES)


def canonical_number(surface: str) -> str:
    """ "1,200" → "1200", "49.00" → "49", "0.50" → "0.5"; times are kept as written."""
    if ":" in surface:
        hours, minutes = surface.split(":")
        return f"{int(hours)}:{minutes}"
    try:
        value = Decimal(surface.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the regex only passes digits
        return surface
    return format(value.normalize(), "f")


def tokenize(text: str) -> list[Token]:
    """Every token of `text`, articles included, punctuation dropped."""
    tokens = []
    for match in _TOKEN.finditer(canonical_text(text)):
        kind = match.lastgroup
        surface = match.group(0)
        if kind in ("email", "code"):
            tokens.append(Token(surface.casefold(), "code", surface))
        elif kind in ("number", "time"):
            tokens.append(Token(canonical_number(surface), "number", surface))
        elif kind == "symbol":
            tokens.append(Token(surface, "symbol", surface))
        else:
            has_digit = any(c.isdigit() for c in surface)
            has_alpha = any(c.isalpha() for c in surface)
            kind_: TokenKind = (
                "code" if has_digit and has_alpha else "number" if has_digit else "word"
            )
            text_ = canonical_number(surface) if kind_ == "number" else surface.casefold()
            tokens.append(Token(text_, kind_, surface))
    return tokens


def answer_tokens(text: str) -> list[str]:
    """Canonical tokens without articles: the unit of exact match and token F1."""
    return [t.text for t in tokenize(text) if t.text not in _ARTICLES]


def critical_tokens(text: str) -> list[str]:
    """The number and code tokens of `text`, which must match exactly."""
    return [t.text for t in tokenize(text) if t.kind in ("number", "code")]


def answer_text(reply: str) -> str:
    """The part of a reply that is scored: the step-by-step answer line, citations removed."""
    return strip_citations(final_answer(reply)).strip()


_CITATION_ONLY = re.compile(r"^(?:\s*\[\d{1,3}\])+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*")


def split_sentences(text: str) -> list[str]:
    """Sentences (and lines) of a reply; a citation after a full stop joins its sentence."""
    pieces = [p for p in _SENTENCE_END.split(text.strip()) if p and p.strip()]
    sentences: list[str] = []
    for piece in pieces:
        lead = _CITATION_ONLY.match(piece)
        if lead and sentences:
            sentences[-1] = f"{sentences[-1]} {lead.group(0).strip()}"
            piece = piece[lead.end() :].strip()
        if piece:
            sentences.append(piece.strip())
    return sentences
