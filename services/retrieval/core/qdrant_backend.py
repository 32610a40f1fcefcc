"""qdrant-client as a store engine: a Qdrant server, or qdrant-client's local mode on disk.

The server is the distributed choice (`FINERAG_QDRANT_URL`, Docker Compose). Local mode scans
every point in Python and is one process per folder, not thread-safe, so every call to it is
serialised here; it stays for tests (it speaks the server's API) and for stores made before Qdrant
Edge became the embedded default (`finerag migrate-store` moves them).

A collection's manifest is one payload-only point with a fixed id: it has no vectors, so no
search finds it, and no generation, so no selection counts it.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from services.retrieval.core.backend import (
    DENSE,
    GENERATION,
    INDEXED_KEYWORDS,
    SPARSE,
    UPSERT_PAGE,
    Manifest,
    Point,
    ScoredChunk,
    Selection,
    VectorQuery,
)
from services.retrieval.core.sparse import SparseTerms
from shared.infrastructure.settings import Settings

MANIFEST_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "finerag:manifest"))
_MANIFEST_KEY = "finerag_manifest"
_SCROLL_PAGE = 512


def _match(key: str, value: Any) -> models.FieldCondition:
    if isinstance(value, list):
        return models.FieldCondition(key=key, match=models.MatchAny(any=value))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def to_filter(selection: Selection) -> models.Filter | None:
    """The Qdrant filter of a selection."""
    must: list[models.Condition] = [_match(k, v) for k, v in selection.equals.items()]
    must_not: list[models.Condition] = [_match(k, v) for k, v in selection.exclude.items()]
    if selection.max_generation is not None or selection.min_generation is not None:
        rng = models.Range(lte=selection.max_generation, gt=selection.min_generation)
        must.append(models.FieldCondition(key=GENERATION, range=rng))
    if selection.retiring is not None:
        retiring = selection.retiring
        inner: list[models.Condition] = [
            _match("doc_id", list(retiring.doc_ids)),
            models.FieldCondition(key=GENERATION, range=models.Range(lt=retiring.below)),
        ]
        keep = [_match("doc_version", retiring.keep_version)] if retiring.keep_version else None
        must_not.append(models.Filter(must=inner, must_not=keep))
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def _sparse(terms: SparseTerms) -> models.SparseVector:
    return models.SparseVector(indices=terms.indices, values=terms.values)


class QdrantClientBackend:
    """Collections, points and searches through qdrant-client."""

    def __init__(self, client: QdrantClient, *, local: bool) -> None:
        self._client = client
        self._local = local
        self._lock = threading.RLock() if local else None

    @classmethod
    def server(cls, settings: Settings) -> QdrantClientBackend:
        """The Qdrant server named by the settings."""
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return cls(QdrantClient(url=settings.qdrant_url, api_key=key or None), local=False)

    @classmethod
    def local(cls, path: Path) -> QdrantClientBackend:
        """qdrant-client's local mode in a folder."""
        path.mkdir(parents=True, exist_ok=True)
        return cls(QdrantClient(path=str(path)), local=True)

    @contextlib.contextmanager
    def _serial(self) -> Iterator[QdrantClient]:
        if self._lock is None:
            yield self._client
            return
        with self._lock:
            yield self._client

    def close(self) -> None:
        with self._serial() as client:
            client.close()

    def ping(self) -> None:
        with self._serial() as client:
            client.get_collections()

    def names(self) -> list[str]:
        with self._serial() as client:
            return [c.name for c in client.get_collections().collections]

    def exists(self, kb: str) -> bool:
        with self._serial() as client:
            return bool(client.collection_exists(kb))

    def create(self, kb: str, dimension: int) -> bool:
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
                for name in INDEXED_KEYWORDS:
                    client.create_payload_index(kb, name, models.PayloadSchemaType.KEYWORD)
                client.create_payload_index(kb, GENERATION, models.PayloadSchemaType.INTEGER)
            return True

    def drop(self, kb: str) -> bool:
        with self._serial() as client:
            if not client.collection_exists(kb):
                return False
            client.delete_collection(kb)
            return True

    def read_manifest(self, kb: str) -> Manifest | None:
        with self._serial() as client:
            found = client.retrieve(kb, [MANIFEST_ID], with_payload=True, with_vectors=False)
        if not found or not found[0].payload:
            return None
        return Manifest.from_json(found[0].payload[_MANIFEST_KEY])

    def write_manifest(self, kb: str, manifest: Manifest) -> None:
        point = models.PointStruct(
            id=MANIFEST_ID, vector={}, payload={_MANIFEST_KEY: manifest.to_json()}
        )
        with self._serial() as client:
            client.upsert(kb, points=[point], wait=True)

    def stamp_generation(self, kb: str, generation: int) -> None:
        """Give every point without a generation this one (stores from before manifests)."""
        unstamped = models.Filter(
            must=[models.IsEmptyCondition(is_empty=models.PayloadField(key=GENERATION))],
            must_not=[models.HasIdCondition(has_id=[MANIFEST_ID])],
        )
        with self._serial() as client:
            client.set_payload(kb, {GENERATION: generation}, points=unstamped, wait=True)

    def upsert(self, kb: str, points: Sequence[Point]) -> None:
        structs = [
            models.PointStruct(
                id=point.id,
                vector={DENSE: list(point.dense), SPARSE: _sparse(point.sparse)},
                payload=point.payload,
            )
            for point in points
        ]
        for start in range(0, len(structs), UPSERT_PAGE):
            with self._serial() as client:
                client.upsert(kb, points=structs[start : start + UPSERT_PAGE], wait=True)

    def delete(self, kb: str, selection: Selection) -> None:
        selector = to_filter(selection)
        if selector is None:
            raise ValueError("refusing to delete every point of a collection; drop it instead")
        with self._serial() as client:
            client.delete(kb, points_selector=models.FilterSelector(filter=selector), wait=True)

    def count(self, kb: str, selection: Selection) -> int:
        with self._serial() as client:
            return client.count(kb, count_filter=to_filter(selection), exact=True).count

    def scroll(
        self, kb: str, selection: Selection, fields: Sequence[str], *, with_vectors: bool = False
    ) -> Iterator[tuple[dict[str, Any], Point | None]]:
        offset: Any = None
        wanted: bool | list[str] = list(fields) if fields and not with_vectors else True
        while True:
            with self._serial() as client:
                records, offset = client.scroll(
                    kb,
                    scroll_filter=to_filter(selection),
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=wanted,
                    with_vectors=with_vectors,
                )
            for record in records:
                payload = record.payload or {}
                point = None
                if with_vectors:
                    vectors: Any = record.vector or {}
                    sparse = vectors.get(SPARSE) or models.SparseVector(indices=[], values=[])
                    terms = SparseTerms(list(sparse.indices), list(sparse.values))
                    point = Point(str(record.id), list(vectors[DENSE]), terms, payload)
                yield payload, point
            if offset is None:
                return

    def nearest(self, kb: str, queries: Sequence[VectorQuery]) -> list[list[ScoredChunk]]:
        requests = [
            models.QueryRequest(
                query=list(q.dense) if q.using == DENSE else _sparse(q.sparse),
                using=q.using,
                filter=to_filter(q.selection),
                limit=q.limit,
                score_threshold=q.score_threshold,
                with_payload=True,
            )
            for q in queries
        ]
        with self._serial() as client:
            responses = client.query_batch_points(kb, requests=requests)
        return [
            [ScoredChunk(point.payload or {}, float(point.score)) for point in response.points]
            for response in responses
        ]

    def written(self, kb: str) -> None:
        """Nothing to maintain: a server optimises its own segments."""
