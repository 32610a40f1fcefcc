"""BM25-style sparse vectors: term-frequency saturation here, IDF applied by Qdrant.

A document's vector holds, per term, BM25's saturated term frequency
`tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))`; a query's holds 1.0 per distinct term.
The collection's sparse vector is configured with `Modifier.IDF`, so Qdrant multiplies each query
term by its inverse document frequency over the collection at search time, and the dot product
is the BM25 score. Term ids are a stable 32-bit hash of the term, so no vocabulary is stored.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass

K1 = 1.2
B = 0.75
# Typical chunk length in terms; a fixed average keeps vectors independent of the collection.
AVG_DOC_TERMS = 120.0

_TERM = re.compile(r"[^\W_]+(?:[.,'][^\W_]+)*", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves""".split()  # noqa: SIM905 (a word list reads better as prose)
)


@dataclass(frozen=True)
class SparseTerms:
    """A sparse vector as parallel lists of term ids and weights (ids ascending)."""

    indices: list[int]
    values: list[float]

    def is_empty(self) -> bool:
        """Whether no term survived tokenisation (all stopwords or punctuation)."""
        return not self.indices


def _stem(term: str) -> str:
    """A light plural/possessive stem, so 'refunds' matches 'refund' (no dictionary needed)."""
    if term.endswith("'s"):
        term = term[:-2]
    if len(term) > 4 and term.endswith("ies"):
        return term[:-3] + "y"
    if len(term) > 3 and term.endswith("s") and not term.endswith(("ss", "us", "is")):
        return term[:-1]
    return term


def terms(text: str) -> list[str]:
    """The searchable terms of a text: lower-cased words and numbers, stopwords dropped."""
    found = []
    for match in _TERM.finditer(text.lower()):
        word = match.group(0).strip(".,'")
        if word and word not in STOPWORDS:
            found.append(_stem(word))
    return found


def term_id(term: str) -> int:
    """A stable unsigned 32-bit id for a term."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "big")


def _from_weights(weights: dict[int, float]) -> SparseTerms:
    ordered = sorted(weights.items())
    return SparseTerms([index for index, _ in ordered], [value for _, value in ordered])


def document_vector(text: str) -> SparseTerms:
    """The sparse vector stored for a chunk."""
    counts = Counter(terms(text))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_DOC_TERMS)
    weights: dict[int, float] = {}
    for term, tf in counts.items():
        index = term_id(term)
        weights[index] = weights.get(index, 0.0) + tf * (K1 + 1) / (tf + norm)
    return _from_weights(weights)


def query_vector(text: str) -> SparseTerms:
    """The sparse vector of a query: 1.0 per distinct term (Qdrant supplies the IDF)."""
    return _from_weights({term_id(term): 1.0 for term in set(terms(text))})
