"""The embedded mode's in-process service clients: one process, no HTTP.

`InProcessRetrieval` implements `shared.infrastructure.retrieval_client.RetrievalClient` over the
retrieval core, so the ingestion core, the dataset builder and the gateway can run without the
service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.retrieval.core.index import KnowledgeIndex
from shared.contracts.schemas import Chunk, SearchRequest, SearchResponse
from shared.infrastructure.retrieval_client import DocumentInfo
from shared.infrastructure.settings import Settings


class InProcessRetrieval:
    """The retrieval core called directly (owns the local Qdrant store while open)."""

    def __init__(self, index: KnowledgeIndex) -> None:
        self.index = index

    @classmethod
    def open(cls, settings: Settings) -> InProcessRetrieval:
        """Load the embedder and open the store named by the settings."""
        return cls(KnowledgeIndex.open(settings))

    def close(self) -> None:
        """Release the store."""
        self.index.close()

    def __enter__(self) -> InProcessRetrieval:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upsert_chunks(
        self, kb: str, chunks: Sequence[Chunk], *, replace_documents: bool = False
    ) -> int:
        """Embed and store chunks (creating the collection if needed)."""
        return self.index.upsert_chunks(kb, chunks, replace_documents=replace_documents)

    def delete_document(self, kb: str, doc_id: str, *, keep_version: str | None = None) -> int:
        """Remove a document's chunks (all versions, or all but `keep_version`)."""
        return self.index.delete_document(kb, doc_id, keep_version=keep_version)

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        """Search one knowledge base."""
        return self.index.search(kb, request)

    def list_collections(self) -> list[dict[str, Any]]:
        """Knowledge bases with their point counts."""
        return self.index.list_collections()

    def list_documents(self, kb: str) -> list[DocumentInfo]:
        """The documents of a knowledge base."""
        return self.index.list_documents(kb)

    def get_document(self, kb: str, doc_id: str) -> DocumentInfo | None:
        """One document's chunk counts per version."""
        return self.index.get_document(kb, doc_id)
