"""BM25-style sparse vectors."""

from __future__ import annotations

import pytest

from services.retrieval.core import sparse


def test_terms_drop_stopwords_lowercase_and_stem_plurals():
    assert sparse.terms("The Refunds of the Pro plans are $49.50, isn't it?") == [
        "refund",
        "pro",
        "plan",
        "49.50",
        "isn't",
    ]


def test_term_ids_are_stable_unsigned_32_bit():
    assert sparse.term_id("refund") == sparse.term_id("refund")
    assert sparse.term_id("refund") != sparse.term_id("refunds!")
    assert 0 <= sparse.term_id("refund") < 2**32


def test_document_vector_saturates_term_frequency():
    once = sparse.document_vector("warranty")
    thrice = sparse.document_vector("warranty warranty warranty")
    assert once.indices == thrice.indices == [sparse.term_id("warranty")]
    assert once.values[0] < thrice.values[0] < (sparse.K1 + 1)


def test_longer_documents_weigh_a_term_less():
    short = sparse.document_vector("warranty claim")
    long = sparse.document_vector("warranty " + " ".join(f"word{i}" for i in range(300)))
    index = sparse.term_id("warranty")
    assert long.values[long.indices.index(index)] < short.values[short.indices.index(index)]


def test_query_vector_is_one_per_distinct_term_sorted():
    vector = sparse.query_vector("refund refund policy")
    assert vector.values == [1.0, 1.0]
    assert vector.indices == sorted(vector.indices)


@pytest.mark.parametrize("text", ["", "the of and", "?!"])
def test_stopword_only_text_is_empty(text):
    assert sparse.query_vector(text).is_empty()
