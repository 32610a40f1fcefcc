"""Qdrant Edge's index maintenance runs off the request path: searches and writes go on."""

from __future__ import annotations

import random

from services.retrieval.core import sparse
from services.retrieval.core.edge_backend import CURRENT
from services.retrieval.core.store import ChunkStore, StoredChunk
from shared.contracts.schemas import Chunk
from shared.infrastructure.settings import Settings

DIM = 16


def items(doc: int, n: int, rng: random.Random) -> list[StoredChunk]:
    return [
        StoredChunk(
            Chunk(
                id=f"d{doc}#{p}",
                kb="kb",
                doc_id=f"d{doc}",
                doc_version="v1",
                source="s",
                text=f"doc {doc} part {p}",
                position=p,
            ),
            [rng.random() for _ in range(DIM)],
            sparse.document_vector(f"doc {doc} part {p}"),
        )
        for p in range(n)
    ]


def test_searches_and_writes_go_on_while_a_shard_is_optimised(tmp_path):
    rng = random.Random(0)
    store = ChunkStore.open(Settings(data_dir=tmp_path, edge_optimize_after=5000))
    try:
        store.create("kb", DIM)
        optimizer = store.backend.optimizer  # type: ignore[attr-defined]
        for doc in range(4):
            store.upsert("kb", items(doc, 1000, rng), replace_documents=True)
        assert not optimizer.running("kb"), "4,000 points are below the threshold"
        # The write that crosses 5,000 points starts the optimisation (a child process loading
        # the copied shard: it is still running when the write returns).
        store.upsert("kb", items(4, 1000, rng), replace_documents=True)
        assert optimizer.running("kb"), "5,000 points written should start an optimisation"
        live_before = (tmp_path / "edge" / "kb" / CURRENT).read_text()

        searches = 0
        doc = 5
        while optimizer.running("kb"):
            hits = store.search("kb", dense=[0.5] * DIM, sparse=sparse.query_vector("doc part"),
                                mode="hybrid", limit=5)  # fmt: skip
            assert len(hits) == 5
            searches += 1
            if searches % 50 == 0:  # writes during the optimisation are replayed on the copy
                store.upsert("kb", items(doc, 10, rng), replace_documents=True)
                doc += 1
        optimizer.wait("kb")

        assert searches > 10, "searches were held up by the optimisation"
        assert optimizer.completed >= 1
        assert (tmp_path / "edge" / "kb" / CURRENT).read_text() != live_before
        expected = 5000 + 10 * (doc - 5)
        assert store.count("kb") == expected
        assert {d.doc_id for d in store.documents("kb")} == {f"d{n}" for n in range(doc)}
    finally:
        store.close()

    reopened = ChunkStore.open(Settings(data_dir=tmp_path))
    try:
        assert reopened.count("kb") == expected
        assert len(list((tmp_path / "edge" / "kb").glob("shard-*"))) == 1
    finally:
        reopened.close()
