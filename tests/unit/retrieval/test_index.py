"""The retrieval core over a real local Qdrant store (embedder stand-in)."""

from __future__ import annotations

import pytest

from services.retrieval.core.index import KnowledgeIndex
from shared.contracts.errors import InvalidRequestError, NotFoundError
from shared.contracts.schemas import Chunk, SearchRequest

FACTS = {
    "pricing.md": "The Pro plan costs 49 dollars per month.",
    "refunds.md": "Refunds are paid within 14 days of the return.",
    "support.md": "Support answers the phone Monday to Friday.",
}


def chunk(doc_id: str, text: str, version: str = "v1", position: int = 0) -> Chunk:
    return Chunk(
        id=f"kb/{doc_id}@{version}#{position}",
        kb="kb",
        doc_id=doc_id,
        doc_version=version,
        source=doc_id,
        text=text,
        position=position,
    )


@pytest.fixture
def filled(index: KnowledgeIndex) -> KnowledgeIndex:
    index.upsert_chunks("kb", [chunk(doc, text) for doc, text in FACTS.items()])
    return index


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_each_mode_finds_the_document_holding_the_answer(filled, mode):
    hits = filled.search("kb", SearchRequest(query="when are refunds paid", mode=mode)).hits
    assert hits[0].doc_id == "refunds.md"
    assert hits[0].text == FACTS["refunds.md"]


def test_upserting_the_same_chunk_ids_twice_keeps_one_point_each(filled):
    filled.upsert_chunks("kb", [chunk(doc, text) for doc, text in FACTS.items()])
    assert filled.describe_collection("kb")["points"] == len(FACTS)


def test_delete_keeping_a_version_removes_only_the_others(filled):
    filled.upsert_chunks("kb", [chunk("pricing.md", "The Pro plan costs 59 dollars.", "v2")])
    assert filled.get_document("kb", "pricing.md").versions == {"v1": 1, "v2": 1}

    assert filled.delete_document("kb", "pricing.md", keep_version="v2") == 1
    assert filled.get_document("kb", "pricing.md").versions == {"v2": 1}
    assert filled.delete_document("kb", "pricing.md") == 1
    assert filled.get_document("kb", "pricing.md") is None


def test_filter_restricts_hits_and_unknown_fields_are_refused(filled):
    request = SearchRequest(query="plan", filter={"doc_id": "support.md"}, mode="dense")
    assert {hit.doc_id for hit in filled.search("kb", request).hits} == {"support.md"}
    with pytest.raises(InvalidRequestError, match="filterable"):
        filled.search("kb", SearchRequest(query="plan", filter={"password": "x"}))


def test_unknown_kb_is_not_found_and_bad_names_are_invalid(index):
    with pytest.raises(NotFoundError):
        index.search("missing", SearchRequest(query="plan"))
    with pytest.raises(InvalidRequestError, match="knowledge base name"):
        index.upsert_chunks("../etc", [chunk("a.md", "text")])


def test_chunks_must_belong_to_the_kb_they_are_sent_to(index):
    with pytest.raises(InvalidRequestError, match="belongs to"):
        index.upsert_chunks("other", [chunk("a.md", "text")])


def test_collections_list_point_counts(filled):
    filled.create_collection("empty")
    assert filled.list_collections() == [
        {"name": "empty", "points": 0},
        {"name": "kb", "points": len(FACTS)},
    ]
    filled.drop_collection("empty")
    assert [c["name"] for c in filled.list_collections()] == ["kb"]
