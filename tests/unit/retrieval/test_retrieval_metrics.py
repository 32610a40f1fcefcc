"""Recall@k, MRR and nDCG@k (services.evaluation.retrieval_metrics)."""

from __future__ import annotations

import math

import pytest

from services.evaluation.retrieval_metrics import (
    evaluate_retrieval,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    score_rankings,
)
from shared.contracts.schemas import QACase, SearchHit, SearchRequest, SearchResponse


def test_recall_counts_relevant_documents_in_the_first_k_hits():
    ranking = ["a", "a", "b", "c"]
    assert recall_at_k(ranking, ["b"], 2) == 0.0
    assert recall_at_k(ranking, ["b"], 3) == 1.0
    assert recall_at_k(ranking, ["b", "z"], 10) == 0.5
    assert recall_at_k(ranking, [], 5) == 0.0


def test_reciprocal_rank_is_one_over_first_relevant_hit():
    assert reciprocal_rank(["x", "y", "b"], ["b"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], ["b"]) == 0.0


def test_ndcg_is_one_for_an_ideal_ranking_and_counts_a_document_once():
    assert ndcg_at_k(["a", "b", "x"], ["a", "b"], 3) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], ["a"], 2) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["a", "a", "a"], ["a", "b"], 3) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_score_rankings_averages_over_questions():
    scores = score_rankings("dense", [["a"], ["x", "b"]], [["a"], ["b"]], ks=(1, 2))
    assert scores.recall == {1: 0.5, 2: 1.0}
    assert scores.mrr == pytest.approx(0.75)
    with pytest.raises(ValueError, match="pair up"):
        score_rankings("dense", [["a"]], [], ks=(1,))


class _Ranked:
    """A RetrievalClient whose search answers the doc ids a question names in its text."""

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        hits = [
            SearchHit(chunk_id=f"{doc}#0", doc_id=doc, source=doc, text="", score=1.0)
            for doc in request.query.split()
        ]
        return SearchResponse(hits=hits[: request.top_k])


def test_evaluate_retrieval_skips_unanswerable_and_scores_each_mode():
    cases = [
        QACase(id="1", question="a b", answer="x", source_ids=["b"], type="factual"),
        QACase(id="2", question="c", answer=None, source_ids=[], type="unanswerable"),
    ]
    scores = evaluate_retrieval(_Ranked(), "kb", cases, ks=(1, 2), modes=("dense", "hybrid"))  # type: ignore[arg-type]
    assert [s.mode for s in scores] == ["dense", "hybrid"]
    assert scores[0].questions == 1
    assert scores[0].recall == {1: 0.0, 2: 1.0}
