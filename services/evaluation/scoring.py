"""Score one generation: accuracy, abstention, claims, faithfulness and citations."""

from __future__ import annotations

from collections.abc import Sequence

from services.evaluation.abstention import is_abstention_like
from services.evaluation.accuracy import answer_correct, exact_match, token_f1
from services.evaluation.claims import SupportIndex, extract_claims, unsupported_claims
from services.evaluation.faithfulness import judge_sentences, score_citations
from services.evaluation.normalisation import answer_text, tokenize
from services.evaluation.records import Scores
from shared.contracts.prompts import parse_citations
from shared.contracts.schemas import QACase, SearchHit


def score_reply(
    case: QACase,
    reply: str,
    *,
    finish_reason: str,
    hits: Sequence[SearchHit] | None,
    user_text: Sequence[str],
) -> Scores:
    """Every per-generation score of `reply` to `case`.

    Args:
        case: the question case (reference answer, gold sources, type).
        reply: the model's whole reply.
        finish_reason: "stop", "length" or "error".
        hits: the sources given to the model, numbered from 1; None without RAG.
        user_text: what the user wrote (question, earlier turns): claims from it are supported.
    """
    text = answer_text(reply)
    abstained = is_abstention_like(reply)
    answerable = case.answer is not None
    reference = case.answer or ""
    sources = [hit.text for hit in hits or []]
    support = [*sources, reference, *user_text]

    claims = extract_claims(text, support) if not abstained else []
    unsupported = unsupported_claims(claims, SupportIndex.of(support))
    has_content = any(t.kind != "symbol" for t in tokenize(text))
    false_answer = None if answerable else (has_content and not abstained)
    hallucinated = bool(false_answer) if not answerable else bool(unsupported)

    scores = Scores(
        answer_text=text,
        abstained=abstained,
        exact_match=exact_match(text, reference) if answerable else None,
        token_f1=token_f1(text, reference) if answerable else None,
        correct=answer_correct(text, reference) if answerable else None,
        handled=answer_correct(text, reference) if answerable else abstained,
        false_answer=false_answer,
        claims=[f"{c.kind}:{c.text}" for c in claims],
        unsupported_claims=[f"{c.kind}:{c.text}" for c in unsupported],
        hallucinated=hallucinated,
        citations=parse_citations(reply),
        stopped=finish_reason == "stop",
    )
    if hits is None:
        return scores
    verdicts = judge_sentences(reply, sources)
    citations = score_citations(reply, [hit.doc_id for hit in hits], case.source_ids)
    scores.sentences = len(verdicts)
    scores.supported_sentences = sum(v.supported for v in verdicts)
    scores.unsupported_sentences = [v.text for v in verdicts if not v.supported]
    scores.cited_docs = list(citations.cited_docs)
    scores.invalid_citations = citations.invalid
    scores.citation_precision = citations.precision
    scores.citation_recall = citations.recall
    return scores
