"""The knowledge index: embeds chunks and queries, stores and searches them per knowledge base.

This is the retrieval core. The HTTP service and the embedded mode (`finerag.embedded`) both
call it; it raises domain errors (`shared.contracts.errors`) and never imports web code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.retrieval.core import sparse
from services.retrieval.core.embedder import Embedder
from services.retrieval.core.store import FILTERABLE_FIELDS, ChunkStore, StoredChunk
from shared.contracts.errors import InvalidRequestError
from shared.contracts.names import check_kb_name, knowledge_base_not_found
from shared.contracts.schemas import Chunk, SearchHit, SearchRequest, SearchResponse
from shared.infrastructure.retrieval_client import DocumentInfo
from shared.infrastructure.settings import Settings

# Passages embedded per call while upserting a large batch.
EMBED_BATCH = 256


def passage_text(chunk: Chunk) -> str:
    """What is embedded for a chunk: its title and section give the text its context."""
    return "\n".join(part for part in (chunk.title, chunk.section, chunk.text) if part)


class KnowledgeIndex:
    """Embedder + vector store: the only owner of both."""

    def __init__(self, embedder: Embedder, store: ChunkStore) -> None:
        self.embedder = embedder
        self.store = store

    @classmethod
    def open(cls, settings: Settings) -> KnowledgeIndex:
        """Load the embedding model and open the store named by the settings."""
        embedder = Embedder(
            settings.embedding_model,
            batch_size=settings.embed_batch_size,
            threads=settings.embed_threads,
        )
        return cls(embedder, ChunkStore.open(settings))

    def close(self) -> None:
        """Release the store."""
        self.store.close()

    def ping(self) -> None:
        """Raise if the store does not answer."""
        self.store.ping()

    def _require(self, kb: str) -> str:
        check_kb_name(kb)
        if not self.store.exists(kb):
            raise knowledge_base_not_found(kb)
        return kb

    def create_collection(self, kb: str) -> bool:
        """Create an empty knowledge base; True when it was new."""
        return self.store.create(check_kb_name(kb), self.embedder.dimension)

    def drop_collection(self, kb: str) -> None:
        """Delete a knowledge base and all its chunks."""
        self.store.drop(self._require(kb))

    def describe_collection(self, kb: str) -> dict[str, Any]:
        """A knowledge base's name, point and document counts, and embedding model."""
        self._require(kb)
        return {
            "name": kb,
            "points": self.store.count(kb),
            "documents": len(self.store.documents(kb)),
            "embedding_model": self.embedder.name,
            "dimension": self.embedder.dimension,
        }

    def list_collections(self) -> list[dict[str, Any]]:
        """Every knowledge base with its point count."""
        return self.store.collections()

    def upsert_chunks(
        self, kb: str, chunks: Sequence[Chunk], *, replace_documents: bool = False
    ) -> int:
        """Embed and store chunks in one write, creating the knowledge base if needed.

        Searches see all of the write or none of it; with `replace_documents`, each document's
        other chunks disappear in the same step (see `ChunkStore.upsert`).
        """
        check_kb_name(kb)
        for chunk in chunks:
            if chunk.kb != kb:
                raise InvalidRequestError(
                    f"chunk {chunk.id!r} belongs to knowledge base {chunk.kb!r}, not {kb!r}",
                    param="chunks",
                )
        if not chunks:
            return 0
        created = self.store.create(kb, self.embedder.dimension)
        written = 0
        try:
            items: list[StoredChunk] = []
            for start in range(0, len(chunks), EMBED_BATCH):
                batch = chunks[start : start + EMBED_BATCH]
                passages = [passage_text(chunk) for chunk in batch]
                dense = self.embedder.embed(passages)
                items += [
                    StoredChunk(chunk, vector.tolist(), sparse.document_vector(passage))
                    for chunk, vector, passage in zip(batch, dense, passages, strict=True)
                ]
            written = self.store.upsert(kb, items, replace_documents=replace_documents)
        except Exception:
            if created and not written:  # a failed first write leaves no empty knowledge base
                self.store.drop(kb)
            raise
        return written

    def delete_document(self, kb: str, doc_id: str, *, keep_version: str | None = None) -> int:
        """Delete a document's chunks (all versions, or all but `keep_version`)."""
        return self.store.delete_document(self._require(kb), doc_id, keep_version=keep_version)

    def list_documents(self, kb: str) -> list[DocumentInfo]:
        """The documents of a knowledge base."""
        return self.store.documents(self._require(kb))

    def get_document(self, kb: str, doc_id: str) -> DocumentInfo | None:
        """One document, or None when the knowledge base or the document is absent."""
        check_kb_name(kb)
        if not self.store.exists(kb):
            return None
        found = self.store.documents(kb, doc_id)
        return found[0] if found else None

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        """The top-k chunks for a query, by dense, sparse or hybrid (RRF) ranking."""
        query = request.query.strip()
        if not query:
            raise InvalidRequestError("query is empty", param="query")
        unknown = set(request.filter or {}) - FILTERABLE_FIELDS
        if unknown:
            raise InvalidRequestError(
                f"cannot filter on {sorted(unknown)}; filterable fields: "
                f"{sorted(FILTERABLE_FIELDS)}",
                param="filter",
            )
        self._require(kb)
        dense = self.embedder.embed([query])[0] if request.mode != "sparse" else []
        scored = self.store.search(
            kb,
            dense=list(dense),
            sparse=sparse.query_vector(query),
            mode=request.mode,
            limit=request.top_k,
            equals=request.filter,
            score_threshold=request.score_threshold,
        )
        return SearchResponse(
            hits=[
                SearchHit(
                    chunk_id=item.payload["chunk_id"],
                    doc_id=item.payload["doc_id"],
                    source=item.payload.get("source", ""),
                    section=item.payload.get("section", ""),
                    title=item.payload.get("title", ""),
                    text=item.payload.get("text", ""),
                    score=item.score,
                )
                for item in scored
            ]
        )
