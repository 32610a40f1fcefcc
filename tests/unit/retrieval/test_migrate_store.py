"""`finerag migrate-store`: a local-mode store moved to Qdrant Edge, nothing embedded again."""

from __future__ import annotations

from pathlib import Path

import pytest

from finerag.cli import main
from services.retrieval.core.index import KnowledgeIndex
from services.retrieval.core.store import ChunkStore, migrate
from shared.contracts.schemas import Chunk, SearchRequest
from shared.infrastructure.settings import Settings, get_settings
from tests.unit.retrieval.conftest import BagOfWordsEmbedder

TOPICS = ("warranty claim", "return window", "filter cartridge", "firmware update", "courier")


def filler(doc: int, position: int) -> str:
    """Words that make every chunk's length its own, so no two chunks tie in a ranking."""
    return " detail" * (doc * 3 + position)


def chunks(kb: str, doc: int) -> list[Chunk]:
    return [
        Chunk(
            id=f"{kb}/d{doc}@v1#{p}",
            kb=kb,
            doc_id=f"d{doc}",
            doc_version="v1",
            source=f"d{doc}.md",
            text=f"{TOPICS[(doc + p) % 5]} note {doc} part {p}{filler(doc, p)}",
            position=p,
        )
        for p in range(3)
    ]


def open_index(data_dir: Path, engine: str) -> KnowledgeIndex:
    store = ChunkStore.open(Settings(_env_file=None, data_dir=data_dir, vector_store=engine))
    return KnowledgeIndex(BagOfWordsEmbedder(), store)  # type: ignore[arg-type]


def local_store(data_dir: Path) -> None:
    """Two knowledge bases in local mode; one document re-indexed, one deleted."""
    index = open_index(data_dir, "local")
    try:
        for kb in ("acme", "larkspur"):
            for doc in range(4):
                index.upsert_chunks(kb, chunks(kb, doc), replace_documents=True)
        index.store.delete_document("acme", "d3")
    finally:
        index.close()


def hits(index: KnowledgeIndex, kb: str, mode: str) -> list[tuple[str, float]]:
    request = SearchRequest(query="warranty claim courier", top_k=5, mode=mode)  # type: ignore[arg-type]
    return [(hit.chunk_id, round(hit.score, 4)) for hit in index.search(kb, request).hits]


def test_every_collection_moves_with_its_vectors_and_searches_the_same(tmp_path: Path):
    local_store(tmp_path)
    before = open_index(tmp_path, "local")
    expected = {
        (kb, mode): hits(before, kb, mode)
        for kb in ("acme", "larkspur")
        for mode in ("dense", "sparse", "hybrid")
    }
    source, target = before.store, ChunkStore.open(Settings(_env_file=None, data_dir=tmp_path))
    seen: list[int] = []
    try:
        assert migrate(source, target, progress=seen.append) == {"acme": 9, "larkspur": 12}
        assert sum(seen) == 21
        assert migrate(source, target) == {"acme": None, "larkspur": None}  # run twice: no harm
    finally:
        before.close()
        target.close()

    after = open_index(tmp_path, "edge")
    try:
        assert after.store.count("acme") == 9
        assert {d.doc_id for d in after.store.documents("acme")} == {"d0", "d1", "d2"}
        for (kb, mode), ranking in expected.items():
            assert ranking, (kb, mode)
            # Same vectors, so the same chunks in the same order (scores as the engines round).
            assert [c for c, _ in hits(after, kb, mode)] == [c for c, _ in ranking], (kb, mode)
        # The moved store takes writes as any other: re-indexing replaces a migrated document.
        after.upsert_chunks("acme", chunks("acme", 0)[:1], replace_documents=True)
        assert after.store.count("acme", {"doc_id": "d0"}) == 1
    finally:
        after.close()


def test_an_interrupted_migration_is_finished_by_running_it_again(tmp_path: Path):
    local_store(tmp_path)
    target = ChunkStore.open(Settings(_env_file=None, data_dir=tmp_path))
    target.create("acme", BagOfWordsEmbedder.dimension)  # as a migration killed mid-write leaves it
    source = ChunkStore.open(Settings(_env_file=None, data_dir=tmp_path, vector_store="local"))
    try:
        assert migrate(source, target) == {"acme": 9, "larkspur": 12}
    finally:
        source.close()
        target.close()


def test_the_command_migrates_and_says_what_it_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    local_store(tmp_path)
    monkeypatch.setenv("FINERAG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FINERAG_QDRANT_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["migrate-store"]) == 0
        printed = capsys.readouterr().out
        assert "acme: 9 points" in printed
        assert "larkspur: 12 points" in printed
        assert main(["migrate-store"]) == 0
        assert "acme: already in Qdrant Edge, left alone" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()


def test_the_command_refuses_without_a_local_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("FINERAG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FINERAG_QDRANT_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["migrate-store"]) == 2
        assert "nothing to migrate" in capsys.readouterr().err
        assert not (tmp_path / "edge").exists()
    finally:
        get_settings.cache_clear()
