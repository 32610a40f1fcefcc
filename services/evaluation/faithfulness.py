"""Faithfulness and citations: is each answer sentence backed by the sources it cites, and do
the citations point at the documents that hold the answer?

The default scorer is lexical and needs no model: a sentence is supported when it cites at least
one source that exists, every number and code of it appears in the cited sources, and at least
half of its content words do. Sentences that only decline to answer, or hold nothing but a
citation, are not claims and are skipped. A computed result (an arithmetic total) is not written
in any source, so the lexical scorer marks it unsupported; the optional LLM judge
(`judging.LlmJudge`) reads meaning instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.evaluation.abstention import is_abstention_like
from services.evaluation.normalisation import split_sentences, tokenize
from shared.contracts.prompts import parse_citations, strip_citations

SUPPORT_SHARE = 0.5  # of a sentence's content words that must appear in its cited sources

_STOPWORDS_TEXT = """
    a an the is are was were be been being of in on at to for from by with and or but not no it
    its this that these those there here as if then than so do does did has have had will would
    can could should may might must shall i you we they he she them our your their my me us his
    her which who what when where why how about into over under also just only very per each
    all any some more most such both either
"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True)
class SentenceVerdict:
    """One claim sentence of an answer and whether its cited sources back it."""

    text: str
    cited: tuple[int, ...]
    supported: bool


@dataclass(frozen=True)
class CitationScores:
    """Citations of one answer against the gold documents."""

    cited_docs: tuple[str, ...]
    invalid: int  # [n] marks that number no source
    precision: float | None  # None when nothing valid is cited
    recall: float | None  # None when the case has no gold documents


def claim_sentences(reply: str) -> list[tuple[str, tuple[int, ...]]]:
    """The sentences of a reply that assert something, each with the sources it cites."""
    out = []
    for sentence in split_sentences(reply):
        body = strip_citations(sentence)
        if not any(t.kind != "symbol" for t in tokenize(body)) or is_abstention_like(body):
            continue
        out.append((sentence, tuple(parse_citations(sentence))))
    return out


def _content(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t not in _STOPWORDS]


def sentence_supported(sentence: str, cited_texts: Sequence[str]) -> bool:
    """Numbers and codes all in the cited sources, and at least SUPPORT_SHARE of the words."""
    if not cited_texts:
        return False
    source_tokens = {t.text for text in cited_texts for t in tokenize(text)}
    tokens = [t for t in tokenize(strip_citations(sentence)) if t.kind != "symbol"]
    if any(t.text not in source_tokens for t in tokens if t.kind in ("number", "code")):
        return False
    content = _content([t.text for t in tokens])
    if not content:
        return True
    return sum(t in source_tokens for t in content) / len(content) >= SUPPORT_SHARE


def judge_sentences(reply: str, sources: Sequence[str]) -> list[SentenceVerdict]:
    """Every claim sentence with its lexical verdict; `sources` are numbered from 1."""
    verdicts = []
    for sentence, cited in claim_sentences(reply):
        texts = [sources[i - 1] for i in cited if 0 < i <= len(sources)]
        verdicts.append(SentenceVerdict(sentence, cited, sentence_supported(sentence, texts)))
    return verdicts


def score_citations(
    reply: str, source_docs: Sequence[str], gold_docs: Sequence[str]
) -> CitationScores:
    """Cited documents (by the `[n]` marks) against the case's gold `source_ids`."""
    marks = parse_citations(reply)
    valid = [i for i in marks if 0 < i <= len(source_docs)]
    cited = tuple(dict.fromkeys(source_docs[i - 1] for i in valid))
    gold = set(gold_docs)
    hits = len(set(cited) & gold)
    return CitationScores(
        cited_docs=cited,
        invalid=len(marks) - len(valid),
        precision=hits / len(cited) if cited else None,
        recall=hits / len(gold) if gold else None,
    )
