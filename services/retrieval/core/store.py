"""The vector store: one Qdrant collection per knowledge base, dense + sparse (IDF) vectors.

Qdrant runs as a server when `FINERAG_QDRANT_URL` is set, else in qdrant-client's local mode on
disk. Local mode is one process per folder and is not thread-safe, so every call to it is
serialised here. Hybrid search prefetches candidates with both vectors and fuses the two
rankings with Reciprocal Rank Fusion, inside Qdrant.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qdrant_client import QdrantClient, models

from services.retrieval.core.sparse import SparseTerms
from shared.retrieval_client import DocumentInfo
from shared.schemas import Chunk, SearchMode
from shared.settings import Settings

DENSE = "dense"
SPARSE = "sparse"
# Candidates each vector contributes to the fusion, per result asked for.
PREFETCH_FACTOR = 4
MIN_PREFETCH = 20
# Payload fields a search filter may name.
FILTERABLE_FIELDS = frozenset({"doc_id", "doc_version", "source", "title", "section", "tags"})
_POINT_NAMESPACE = uuid.UUID("5b0b4d1e-8f0c-4b7a-9a53-2f6f0d3c1e7a")
_SCROLL_PAGE = 512


@dataclass(frozen=True)
class StoredChunk:
    """A chunk with its two vectors, ready to be written."""

    chunk: Chunk
    dense: Sequence[float]
    sparse: SparseTerms


@dataclass(frozen=True)
class ScoredChunk:
    """A search result: the chunk's payload and its score."""

    payload: dict[str, Any]
    score: float


def point_id(chunk_id: str) -> str:
    """The Qdrant point id of a chunk (a UUID derived from the chunk id)."""
    return str(uuid.uuid5(_POINT_NAMESPACE, chunk_id))


def payload_filter(
    equals: dict[str, Any] | None = None, *, exclude: dict[str, Any] | None = None
) -> models.Filter | None:
    """A Qdrant filter: every `equals` field matches (a list = any of), no `exclude` field does."""

    def condition(key: str, value: Any) -> models.FieldCondition:
        if isinstance(value, list):
            return models.FieldCondition(key=key, match=models.MatchAny(any=value))
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))

    must: list[models.Condition] = [condition(k, v) for k, v in (equals or {}).items()]
    must_not: list[models.Condition] = [condition(k, v) for k, v in (exclude or {}).items()]
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


class ChunkStore:
    """Collections, points and searches in Qdrant; knows nothing of embedding."""

    def __init__(self, client: QdrantClient, *, local: bool) -> None:
        self._client = client
        self._local = local
        self._lock = threading.RLock() if local else None

    @classmethod
    def open(cls, settings: Settings) -> ChunkStore:
        """A store on the Qdrant server named by the settings, else local mode on disk."""
        if settings.qdrant_url:
            key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
            return cls(QdrantClient(url=settings.qdrant_url, api_key=key or None), local=False)
        settings.qdrant_path.mkdir(parents=True, exist_ok=True)
        return cls(QdrantClient(path=str(settings.qdrant_path)), local=True)

    @contextlib.contextmanager
    def _serial(self) -> Iterator[QdrantClient]:
        if self._lock is None:
            yield self._client
            return
        with self._lock:
            yield self._client

    def close(self) -> None:
        """Release the store (in local mode, the folder's lock)."""
        with self._serial() as client:
            client.close()

    def ping(self) -> None:
        """Raise if the store does not answer."""
        with self._serial() as client:
            client.get_collections()

    def exists(self, kb: str) -> bool:
        """Whether the knowledge base has a collection."""
        with self._serial() as client:
            return bool(client.collection_exists(kb))

    def create(self, kb: str, dimension: int) -> bool:
        """Create the collection if it is missing; True when it was created."""
        with self._serial() as client:
            if client.collection_exists(kb):
                return False
            client.create_collection(
                kb,
                vectors_config={
                    DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)
                },
                sparse_vectors_config={
                    SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
            )
            if not self._local:  # local mode scans everything; indexes only matter on a server
                for field in ("doc_id", "doc_version"):
                    client.create_payload_index(kb, field, models.PayloadSchemaType.KEYWORD)
            return True

    def drop(self, kb: str) -> bool:
        """Delete the collection; True when it existed."""
        with self._serial() as client:
            if not client.collection_exists(kb):
                return False
            client.delete_collection(kb)
            return True

    def collections(self) -> list[dict[str, Any]]:
        """Every knowledge base with its point count."""
        with self._serial() as client:
            names = sorted(c.name for c in client.get_collections().collections)
            return [
                {"name": name, "points": client.count(name, exact=True).count} for name in names
            ]

    def count(self, kb: str, equals: dict[str, Any] | None = None) -> int:
        """Points in the collection, optionally only those matching a payload filter."""
        with self._serial() as client:
            return client.count(kb, count_filter=payload_filter(equals), exact=True).count

    def upsert(self, kb: str, items: Sequence[StoredChunk]) -> int:
        """Write the chunks (same chunk id = same point, overwritten); returns points written."""
        points = [
            models.PointStruct(
                id=point_id(item.chunk.id),
                vector={
                    DENSE: list(item.dense),
                    SPARSE: models.SparseVector(
                        indices=item.sparse.indices, values=item.sparse.values
                    ),
                },
                payload={"chunk_id": item.chunk.id, **item.chunk.model_dump(exclude={"id"})},
            )
            for item in items
        ]
        if points:
            with self._serial() as client:
                client.upsert(kb, points=points, wait=True)
        return len(points)

    def delete_document(self, kb: str, doc_id: str, *, keep_version: str | None = None) -> int:
        """Delete a document's points (all, or all but one version); returns points deleted."""
        selector = models.Filter(
            must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))],
            must_not=[
                models.FieldCondition(
                    key="doc_version", match=models.MatchValue(value=keep_version)
                )
            ]
            if keep_version
            else None,
        )
        with self._serial() as client:
            doomed = client.count(kb, count_filter=selector, exact=True).count
            if doomed:
                client.delete(kb, points_selector=models.FilterSelector(filter=selector), wait=True)
            return doomed

    def documents(self, kb: str, doc_id: str | None = None) -> list[DocumentInfo]:
        """The documents in a collection (or just `doc_id`), with chunk counts per version."""
        found: dict[str, DocumentInfo] = {}
        selector = payload_filter({"doc_id": doc_id} if doc_id else None)
        fields = ["doc_id", "doc_version", "source", "title"]
        offset: Any = None
        with self._serial() as client:
            while True:
                records, offset = client.scroll(
                    kb,
                    scroll_filter=selector,
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=fields,
                    with_vectors=False,
                )
                for record in records:
                    payload = record.payload or {}
                    doc = found.setdefault(
                        payload["doc_id"],
                        DocumentInfo(
                            doc_id=payload["doc_id"],
                            source=payload.get("source", ""),
                            title=payload.get("title", ""),
                        ),
                    )
                    version = payload["doc_version"]
                    doc.versions[version] = doc.versions.get(version, 0) + 1
                    doc.chunks += 1
                if offset is None:
                    break
        return sorted(found.values(), key=lambda d: d.doc_id)

    def search(
        self,
        kb: str,
        *,
        dense: Sequence[float],
        sparse: SparseTerms,
        mode: SearchMode,
        limit: int,
        equals: dict[str, Any] | None = None,
        score_threshold: float | None = None,
    ) -> list[ScoredChunk]:
        """The best `limit` chunks for the query vectors in the given mode."""
        query_filter = payload_filter(equals)
        sparse_query = models.SparseVector(indices=sparse.indices, values=sparse.values)
        kwargs: dict[str, Any]
        if mode == "dense":
            kwargs = {"query": list(dense), "using": DENSE}
        elif mode == "sparse":
            if sparse.is_empty():
                return []
            kwargs = {"query": sparse_query, "using": SPARSE}
        else:
            depth = max(limit * PREFETCH_FACTOR, MIN_PREFETCH)
            prefetch = [models.Prefetch(query=list(dense), using=DENSE, limit=depth)]
            if not sparse.is_empty():
                prefetch.append(models.Prefetch(query=sparse_query, using=SPARSE, limit=depth))
            kwargs = {"prefetch": prefetch, "query": models.FusionQuery(fusion=models.Fusion.RRF)}
        with self._serial() as client:
            response = client.query_points(
                kb,
                query_filter=query_filter,
                limit=limit,
                with_payload=True,
                score_threshold=score_threshold,
                **kwargs,
            )
        return [ScoredChunk(point.payload or {}, float(point.score)) for point in response.points]
