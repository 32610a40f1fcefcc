"""Writes that readers see whole or not at all, on both engines (the `engine` fixture)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from services.retrieval.core import sparse
from services.retrieval.core.backend import Manifest, Point, Selection
from services.retrieval.core.index import KnowledgeIndex
from services.retrieval.core.store import ChunkStore
from shared.contracts.schemas import Chunk, SearchRequest
from shared.infrastructure.settings import Settings
from tests.unit.retrieval.conftest import BagOfWordsEmbedder


def version_chunks(version: int) -> list[Chunk]:
    """Version n of one document: n % 4 + 2 chunks, each saying which version it is."""
    return [
        Chunk(
            id=f"kb/manual.md@v{version}#{position}",
            kb="kb",
            doc_id="manual.md",
            doc_version=f"v{version}",
            source="manual.md",
            text=f"warranty terms version {version} part {position}",
            position=position,
        )
        for position in range(version % 4 + 2)
    ]


def open_index(path: Path, engine: str) -> KnowledgeIndex:
    store = ChunkStore.open(Settings(data_dir=path, vector_store=engine))
    return KnowledgeIndex(BagOfWordsEmbedder(), store)  # type: ignore[arg-type]


def test_a_search_sees_one_whole_version_while_a_document_is_re_indexed(index):
    index.upsert_chunks("kb", version_chunks(0), replace_documents=True)
    seen: list[tuple[set[str], int]] = []
    done = threading.Event()
    request = SearchRequest(query="warranty terms", top_k=50, mode="sparse")

    def read() -> None:
        while not done.is_set():
            hits = index.search("kb", request).hits
            seen.append(({hit.text.split()[3] for hit in hits}, len(hits)))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in range(1, 25):
            index.upsert_chunks("kb", version_chunks(version), replace_documents=True)
    finally:
        done.set()
        reader.join()

    assert len(seen) > 20
    for versions, hits in seen:
        assert len(versions) == 1, f"a search saw versions {versions}"
        assert hits == int(next(iter(versions))) % 4 + 2, "a search saw part of a version"
    assert index.get_document("kb", "manual.md").versions == {"v24": 2}


def test_replacing_with_a_shorter_version_removes_the_positions_past_its_end(index):
    index.upsert_chunks("kb", version_chunks(3), replace_documents=True)  # 5 chunks
    index.upsert_chunks("kb", version_chunks(4), replace_documents=True)  # 2 chunks
    assert index.get_document("kb", "manual.md").versions == {"v4": 2}
    assert index.store.count("kb") == 2


def test_an_interrupted_write_is_undone_when_the_store_reopens(tmp_path, engine):
    first = open_index(tmp_path, engine)
    first.upsert_chunks("kb", version_chunks(1), replace_documents=True)
    store = first.store
    # What a kill -9 in the middle of the next write leaves: the manifest says a generation is
    # being written, and some of its points are stored.
    committed = store.manifest("kb").committed
    store.backend.write_manifest("kb", Manifest(committed=committed, writing=committed + 1))
    half = version_chunks(2)[:1]
    vectors = BagOfWordsEmbedder().embed([c.text for c in half])
    store.backend.upsert(
        "kb",
        [
            Point(
                "00000000-0000-0000-0000-000000000001",
                list(vectors[0]),
                sparse.document_vector(c.text),
                {"chunk_id": c.id, **c.model_dump(exclude={"id"}), "generation": committed + 1},
            )
            for c in half
        ],
    )
    assert store.backend.count("kb", Selection(min_generation=committed)) == 1
    first.close()

    reopened = open_index(tmp_path, engine)
    try:
        assert reopened.get_document("kb", "manual.md").versions == {"v1": 3}
        assert reopened.store.manifest("kb").writing is None
        assert reopened.store.backend.count("kb", Selection(min_generation=committed)) == 0
    finally:
        reopened.close()


def test_a_failed_write_leaves_nothing_behind(index, monkeypatch):
    index.upsert_chunks("kb", version_chunks(1), replace_documents=True)
    backend = index.store.backend
    real_upsert = backend.upsert

    def half_then_fail(kb, points):
        real_upsert(kb, points[:1])
        raise OSError("disk full")

    monkeypatch.setattr(backend, "upsert", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        index.upsert_chunks("kb", version_chunks(2), replace_documents=True)
    monkeypatch.undo()

    assert index.get_document("kb", "manual.md").versions == {"v1": 3}
    assert index.store.backend.count("kb", Selection(min_generation=0)) == 3
    index.upsert_chunks("kb", version_chunks(5), replace_documents=True)
    assert index.get_document("kb", "manual.md").versions == {"v5": 3}
