"""Factual and unanswerable questions, and the one way any case becomes a `qa.jsonl` line."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from finerag.sample_domain.catalog import Catalog
from finerag.sample_domain.documents import Document, Subject
from finerag.sample_domain.knowledge_base import product_subject
from finerag.sample_domain.variants import customer_variants
from finerag.sample_domain.wording import (
    UNANSWERABLE_GHOST_WORDINGS,
    UNANSWERABLE_POLICY_WORDINGS,
    UNANSWERABLE_PRODUCT_WORDINGS,
    WORDINGS,
    Wording,
)

UNANSWERABLE_ABOUT_PRODUCTS = 48  # the rest ask about policies and products never sold
FOLLOW_UP_SHARE = 0.6  # of cases whose wording has a follow-up form


@dataclass(frozen=True)
class Case:
    """A question before it is worded: what is asked, the answer, where it is written."""

    type: str  # a shared.contracts.schemas.QuestionType
    wording: Wording
    fields: dict[str, str]
    answer: str | None
    source_ids: tuple[str, ...]
    subtasks: dict[str, Any] | None = None  # a shared.contracts.schemas.AgentSubtasks


def to_record(case: Case, case_id: str, seed: int) -> dict[str, Any]:
    """The case as a `shared.contracts.schemas.QACase` line, worded by an RNG of its own."""
    # Not for security: seeding by case id keeps each case's wording stable across runs.
    rng = random.Random(f"{seed}/{case_id}")
    asked = rng.randrange(len(case.wording.questions))
    follow_up = rng.random() < FOLLOW_UP_SHARE
    record: dict[str, Any] = {
        "id": case_id,
        "question": case.wording.questions[asked].format(**case.fields),
        "answer": case.answer,
        "source_ids": list(case.source_ids),
        "type": case.type,
        "variants": customer_variants(case.wording, case.fields, asked, rng, follow_up),
    }
    if case.subtasks is not None:
        record["subtasks"] = case.subtasks
    return record


def factual_cases(catalog: Catalog, documents: list[Document]) -> list[Case]:
    """One case per fact stated in the knowledge base, in document order."""
    return [
        Case(
            "factual",
            WORDINGS[fact.kind],
            fact.subject.fields(catalog.brand),
            fact.answer,
            (doc.doc_id,),
        )
        for doc in documents
        for fact in doc.facts
    ]


def unanswerable_cases(catalog: Catalog, rng: random.Random) -> list[Case]:
    """Plausible questions the knowledge base does not answer (answer null, no sources)."""
    pairs = [
        (product, kind) for product in catalog.products for kind in UNANSWERABLE_PRODUCT_WORDINGS
    ]
    cases = [
        Case(
            "unanswerable",
            UNANSWERABLE_PRODUCT_WORDINGS[kind],
            product_subject(product).fields(catalog.brand),
            None,
            (),
        )
        for product, kind in rng.sample(pairs, UNANSWERABLE_ABOUT_PRODUCTS)
    ]
    company = Subject(catalog.company, catalog.brand.lower()).fields(catalog.brand)
    cases += [Case("unanswerable", w, company, None, ()) for w in UNANSWERABLE_POLICY_WORDINGS]
    for ghost in catalog.ghost_products:
        fields = Subject(ghost, ghost.removeprefix("the ").lower()).fields(catalog.brand)
        cases += [Case("unanswerable", w, fields, None, ()) for w in UNANSWERABLE_GHOST_WORDINGS]
    return cases
