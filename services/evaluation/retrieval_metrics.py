"""Retrieval quality: recall@k, MRR and nDCG@k over labelled questions, as pure functions.

A ranking is the document ids of the hits, best first, one entry per hit: several chunks of one
document repeat its id, so "@k" means "in the first k hits", which is what a prompt with k
sources sees. Relevance is binary: a document is relevant when the question's `source_ids` name
it; only its first hit counts. `evaluate_retrieval()` runs a question set through any
RetrievalClient.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shared.contracts.schemas import QACase, SearchMode, SearchRequest
from shared.infrastructure.retrieval_client import RetrievalClient


def _first_ranks(ranking: Sequence[str], relevant: set[str]) -> list[int]:
    """1-based rank of the first hit of each relevant document that was retrieved."""
    seen: set[str] = set()
    ranks = []
    for rank, doc_id in enumerate(ranking, start=1):
        if doc_id in relevant and doc_id not in seen:
            seen.add(doc_id)
            ranks.append(rank)
    return ranks


def recall_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the relevant documents that appear in the first k hits."""
    wanted = set(relevant)
    if not wanted:
        return 0.0
    return sum(rank <= k for rank in _first_ranks(ranking, wanted)) / len(wanted)


def reciprocal_rank(ranking: Sequence[str], relevant: Iterable[str]) -> float:
    """1 / rank of the first hit of a relevant document (0 when none is retrieved)."""
    ranks = _first_ranks(ranking, set(relevant))
    return 1.0 / ranks[0] if ranks else 0.0


def ndcg_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Normalised discounted cumulative gain of the first k hits (binary relevance)."""
    wanted = set(relevant)
    if not wanted:
        return 0.0
    gain = sum(1.0 / math.log2(rank + 1) for rank in _first_ranks(ranking, wanted) if rank <= k)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return gain / ideal


@dataclass
class RetrievalScores:
    """Mean metrics of one search mode over a question set."""

    mode: str
    questions: int
    recall: dict[int, float] = field(default_factory=dict)
    ndcg: dict[int, float] = field(default_factory=dict)
    mrr: float = 0.0


def score_rankings(
    mode: str,
    rankings: Sequence[Sequence[str]],
    relevant: Sequence[Sequence[str]],
    ks: Sequence[int],
) -> RetrievalScores:
    """Average recall@k, nDCG@k and MRR over paired rankings and relevant sets."""
    n = len(rankings)
    if n != len(relevant):
        raise ValueError("rankings and relevant sets must pair up")
    scores = RetrievalScores(mode=mode, questions=n)
    if n == 0:
        return scores
    pairs = list(zip(rankings, relevant, strict=True))
    for k in ks:
        scores.recall[k] = sum(recall_at_k(r, g, k) for r, g in pairs) / n
        scores.ndcg[k] = sum(ndcg_at_k(r, g, k) for r, g in pairs) / n
    scores.mrr = sum(reciprocal_rank(r, g) for r, g in pairs) / n
    return scores


def evaluate_retrieval(
    client: RetrievalClient,
    kb: str,
    cases: Sequence[QACase],
    *,
    ks: Sequence[int] = (1, 3, 5, 10),
    modes: Sequence[SearchMode] = ("dense", "sparse", "hybrid"),
) -> list[RetrievalScores]:
    """Search every question that names its sources, in each mode, and score the rankings.

    Each search asks for max(ks) hits; questions without `source_ids` (unanswerable ones)
    are skipped.
    """
    labelled = [case for case in cases if case.source_ids]
    depth = max(ks)
    results = []
    for mode in modes:
        rankings = [
            [
                hit.doc_id
                for hit in client.search(
                    kb, SearchRequest(query=case.question, top_k=depth, mode=mode)
                ).hits
            ]
            for case in labelled
        ]
        results.append(score_rankings(mode, rankings, [c.source_ids for c in labelled], ks))
    return results
