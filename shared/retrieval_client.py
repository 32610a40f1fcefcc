"""How a core reaches retrieval: one interface, an HTTP implementation, and (in `finerag/`)
an in-process one for the embedded mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from shared.schemas import Chunk, SearchRequest, SearchResponse


class RetrievalClient(Protocol):
    """What the ingestion core, the dataset builder and the gateway need from retrieval."""

    def upsert_chunks(self, kb: str, chunks: Sequence[Chunk]) -> int:
        """Embed and store chunks (creating the collection if needed); returns points written."""
        ...

    def delete_document(self, kb: str, doc_id: str, *, keep_version: str | None = None) -> int:
        """Remove a document's chunks (all versions, or all but `keep_version`)."""
        ...

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        """Search one knowledge base."""
        ...

    def list_collections(self) -> list[dict[str, Any]]:
        """Knowledge bases with their point counts."""
        ...
