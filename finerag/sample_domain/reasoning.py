"""Questions that need more than one lookup: multi-hop chains and arithmetic on stated numbers.

Multi-hop questions name a product only indirectly (by model code, by an error code that lists
it, or as the newest/cheapest of its family), so the answer needs a second fact. Arithmetic
answers are computed in integer cents or tenths of a kilogram and formatted as the documents
format numbers, so they can be checked exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from finerag.sample_domain.catalog import Catalog, Product, join_words, kilograms, money
from finerag.sample_domain.company_pages import SHIPPING_ID, WARRANTY_ID
from finerag.sample_domain.knowledge_base import (
    PRICING_ID,
    product_doc_id,
    product_subject,
    troubleshooting_id,
)
from finerag.sample_domain.questions import Case
from finerag.sample_domain.vocabulary import CATEGORIES
from finerag.sample_domain.wording import Wording

MULTI_HOP_PER_PATTERN = 10
ARITHMETIC_PER_PATTERN = 5

# What a multi-hop question finally asks for: (label, its verb, how the document says it).
ATTRIBUTES: tuple[tuple[str, str, Callable[[Product], str]], ...] = (
    ("price", "is", lambda p: money(p.price_cents)),
    ("warranty period", "is", lambda p: f"{p.warranty_months} months"),
    ("weight", "is", lambda p: kilograms(p.weight_tenths)),
    ("release year", "is", lambda p: str(p.release_year)),
    ("colour options", "are", lambda p: join_words(list(p.colours))),
    ("model code", "is", lambda p: p.model_code),
)
# Superlatives over a family: (word, the product it picks).
EXTREMES: tuple[tuple[str, Callable[[list[Product]], Product]], ...] = (
    ("newest", lambda ps: max(ps, key=lambda p: p.release_year)),
    ("oldest", lambda ps: min(ps, key=lambda p: p.release_year)),
    ("cheapest", lambda ps: min(ps, key=lambda p: p.price_cents)),
    ("most expensive", lambda ps: max(ps, key=lambda p: p.price_cents)),
    ("heaviest", lambda ps: max(ps, key=lambda p: p.weight_tenths)),
    ("lightest", lambda ps: min(ps, key=lambda p: p.weight_tenths)),
)
# The attribute a superlative is decided by; asking for it again would not be a second hop.
DECIDED_BY = {
    "newest": "release year",
    "oldest": "release year",
    "cheapest": "price",
    "most expensive": "price",
    "heaviest": "weight",
    "lightest": "weight",
}


def _worded(
    kind: str,
    questions: tuple[str, ...],
    terse: str,
    answer: str,
    *sources: str,
    subtasks: dict[str, Any] | None = None,
) -> Case:
    """A case whose wordings are already filled in (no placeholders left)."""
    return Case(
        kind, Wording(questions, terse), {}, answer, tuple(dict.fromkeys(sources)), subtasks
    )


def _parts(*sub_questions: str) -> dict[str, Any]:
    """A multi-hop case's sub-questions, in the order they are answered."""
    return {"sub_questions": list(sub_questions)}


def _sums(calculation: str, *quantities: tuple[str, str, str]) -> dict[str, Any]:
    """An arithmetic case's (name, text as written, document) quantities and calculation."""
    return {
        "quantities": [{"name": n, "text": t, "doc_id": d} for n, t, d in quantities],
        "calculation": calculation,
    }


def _families(catalog: Catalog) -> list[list[Product]]:
    return [[p for p in catalog.products if p.category == f] for f in CATEGORIES]


def _by_model_code(catalog: Catalog) -> list[Case]:
    cases = []
    for product in catalog.products:
        code, doc_id = product.model_code, product_doc_id(catalog, product)
        for label, be, value in ATTRIBUTES[:-1]:  # not "model code": the question's key
            questions = (
                f"What {be} the {label} of the product with model code {code}?",
                f"For the product with model code {code}, what {be} the {label}?",
                f"I own model {code}. What {be} its {label}?",
            )
            parts = _parts(
                f"Which product has the model code {code}?",
                f"What {be} the {label} of that product?",
            )
            cases.append(
                _worded(
                    "multi_hop", questions, f"{code} {label}?", value(product), doc_id,
                    subtasks=parts,
                )
            )  # fmt: skip
    return cases


def _by_error_code(catalog: Catalog) -> list[Case]:
    cases = []
    for error in catalog.errors:
        noun, code = error.category.noun, error.code
        for label, be, value in ATTRIBUTES:
            questions = (
                f"What {be} the {label} of the {noun} model affected by error {code}?",
                f"Error {code} lists one affected {noun} model. What {be} its {label}?",
                f"Which {label} does the {noun} model that shows error {code} have?",
            )
            cases.append(
                _worded(
                    "multi_hop",
                    questions,
                    f"{noun} with error {code} {label}?",
                    value(error.model),
                    troubleshooting_id(error.category),
                    product_doc_id(catalog, error.model),
                    subtasks=_parts(
                        f"Which {noun} model does error {code} affect?",
                        f"What {be} the {label} of that {noun}?",
                    ),
                )
            )
    return cases


def _by_extreme(catalog: Catalog) -> list[Case]:
    cases = []
    brand = catalog.brand
    for products in _families(catalog):
        family = products[0].category
        sources = [product_doc_id(catalog, p) for p in products]
        for word, pick in EXTREMES:
            for label, be, value in ATTRIBUTES:
                if label == DECIDED_BY[word]:
                    continue
                questions = (
                    f"What {be} the {label} of the {word} {brand} {family.noun}?",
                    f"Among {brand} {family.plural}, what {be} the {label} of the {word} one?",
                    f"Of all {brand} {family.plural}, which {label} does the {word} have?",
                )
                terse = f"{word} {brand} {family.noun} {label}?"
                parts = _parts(
                    f"Which {brand} {family.noun} is the {word}?",
                    f"What {be} the {label} of that {family.noun}?",
                )
                cases.append(
                    _worded(
                        "multi_hop", questions, terse, value(pick(products)), *sources,
                        subtasks=parts,
                    )
                )  # fmt: skip
    return cases


def multi_hop_cases(catalog: Catalog, rng: random.Random) -> list[Case]:
    """Two-fact questions, an equal share from each chaining pattern."""
    pools = (_by_model_code(catalog), _by_error_code(catalog), _by_extreme(catalog))
    return [case for pool in pools for case in rng.sample(pool, MULTI_HOP_PER_PATTERN)]


def _arithmetic_pools(catalog: Catalog, rng: random.Random) -> list[list[Case]]:
    """Every arithmetic pattern over every product (or plan), one list per pattern."""
    totals, differences, discounts, weights, plans, express, extended = ([] for _ in range(7))
    for product in catalog.products:
        e, t, doc_id = (
            product.phrase,
            product_subject(product).terse,
            product_doc_id(catalog, product),
        )
        name, plural = product.name, product.category.plural
        n = rng.randint(2, 5)
        totals.append(
            _worded(
                "arithmetic",
                (
                    f"What is the total price of {n} {name} {plural}?",
                    f"How much would {n} units of {e} cost altogether?",
                    f"If I buy {n} of {e}, what do I pay in total?",
                ),
                f"{n} x {t} total price?",
                money(product.price_cents * n),
                doc_id,
                subtasks=_sums(f"{n} * price", ("price", money(product.price_cents), doc_id)),
            )
        )
        pct = rng.choice((10, 15, 20, 25, 30, 40))
        discounts.append(
            _worded(
                "arithmetic",
                (
                    f"What would {e} cost with a {pct}% discount?",
                    f"What is the price of {e} after a {pct}% discount?",
                    f"With {pct}% off, how much is {e}?",
                ),
                f"{t} price with {pct}% off?",
                # Prices are whole dollars, so a whole-percent discount is a whole number of cents.
                money(product.price_cents * (100 - pct) // 100),
                doc_id,
                subtasks=_sums(
                    f"price * (100 - {pct}) / 100", ("price", money(product.price_cents), doc_id)
                ),
            )
        )
        n = rng.randint(2, 6)
        weights.append(
            _worded(
                "arithmetic",
                (
                    f"What is the combined weight of {n} {name} {plural}?",
                    f"How much do {n} units of {e} weigh together?",
                    f"What would {n} of {e} weigh in total?",
                ),
                f"{n} x {t} total weight?",
                kilograms(product.weight_tenths * n),
                doc_id,
                subtasks=_sums(
                    f"{n} * weight", ("weight", kilograms(product.weight_tenths), doc_id)
                ),
            )
        )
        express.append(
            _worded(
                "arithmetic",
                (
                    f"What is the total cost of {e} with express shipping?",
                    f"How much do I pay for {e} including express shipping?",
                    f"What does {e} cost once express shipping is added?",
                ),
                f"{t} price plus express shipping?",
                money(product.price_cents + catalog.express_cents),
                doc_id,
                SHIPPING_ID,
                subtasks=_sums(
                    "price + express_shipping",
                    ("price", money(product.price_cents), doc_id),
                    ("express_shipping", money(catalog.express_cents), SHIPPING_ID),
                ),
            )
        )
        extended.append(
            _worded(
                "arithmetic",
                (
                    f"How many months of warranty does {e} have with the extended warranty?",
                    f"What is the total warranty of {e} if I buy the extended warranty?",
                    f"With the extended warranty, how many months is {e} covered?",
                ),
                f"{t} warranty with extension?",
                f"{product.warranty_months + catalog.extended_months} months",
                doc_id,
                WARRANTY_ID,
                subtasks=_sums(
                    "warranty + extension",
                    ("warranty", f"{product.warranty_months} months", doc_id),
                    ("extension", f"{catalog.extended_months} months", WARRANTY_ID),
                ),
            )
        )
    for products in _families(catalog):
        for a in products:
            for b in products:
                if a.price_cents <= b.price_cents:
                    continue
                differences.append(
                    _worded(
                        "arithmetic",
                        (
                            f"How much more does {a.phrase} cost than {b.phrase}?",
                            f"What is the price difference between {a.phrase} and {b.phrase}?",
                            f"By how much does the price of {a.phrase} exceed that of {b.phrase}?",
                        ),
                        f"{a.name.lower()} vs {b.name.lower()} price difference?",
                        money(a.price_cents - b.price_cents),
                        product_doc_id(catalog, a),
                        product_doc_id(catalog, b),
                        subtasks=_sums(
                            "first_price - second_price",
                            ("first_price", money(a.price_cents), product_doc_id(catalog, a)),
                            ("second_price", money(b.price_cents), product_doc_id(catalog, b)),
                        ),
                    )
                )
    for plan in catalog.plans:
        for months in (3, 6, 9, 12, 18, 24):
            e = f"the {plan.name} plan"
            plans.append(
                _worded(
                    "arithmetic",
                    (
                        f"How much does {e} cost over {months} months?",
                        f"What do {months} months of {e} cost in total?",
                        f"What is the total price of {e} for {months} months?",
                    ),
                    f"{plan.name.lower()} cost for {months} months?",
                    money(plan.monthly_cents * months),
                    PRICING_ID,
                    subtasks=_sums(
                        f"monthly_price * {months}",
                        ("monthly_price", money(plan.monthly_cents), PRICING_ID),
                    ),
                )
            )
    return [totals, differences, discounts, weights, plans, express, extended]


def arithmetic_cases(catalog: Catalog, rng: random.Random) -> list[Case]:
    """Questions whose answer is computed from stated numbers, an equal share per pattern."""
    pools = _arithmetic_pools(catalog, rng)
    return [case for pool in pools for case in rng.sample(pool, ARITHMETIC_PER_PATTERN)]


# Company pages whose one number every question of a pattern uses (express shipping, the
# extended warranty): they say nothing about which product a question is about.
SHARED_PAGES = (SHIPPING_ID, WARRANTY_ID)


def arithmetic_drills(catalog: Catalog, rng: random.Random) -> list[list[Case]]:
    """Every arithmetic pattern over every product and plan, one list per pattern, with the
    quantities drawn by `rng`: practice for the calculate agent's extract step. The question
    set's arithmetic cases are drawn from the same pools, so a caller that trains on drills
    must leave out those that read a page its held-out questions need (`SHARED_PAGES` aside)."""
    return _arithmetic_pools(catalog, rng)
