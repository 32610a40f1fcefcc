"""The vector store: one collection per knowledge base, dense + sparse (IDF) vectors, two engines.

`ChunkStore` is what the retrieval core calls. It owns what the engines do not give: writes that
readers see whole or not at all. Every write is one transaction over a small per-collection
`Manifest`:

1. the write takes the next generation number and records it as being written;
2. its points are stored with that `generation` in their payload. Searches only see points whose
   generation is at most the committed one, so the new points stay invisible for now;
3. one manifest update commits: the generation becomes visible and, for a re-indexed document,
   its older points are marked retiring. Searches exclude retiring points, so readers switch from
   the old version to the new in that single step, never seeing both nor neither;
4. once the searches that started before the commit have ended (they may still be reading the
   old points), the retiring points are deleted and the manifest forgets them.

A process killed between steps leaves a manifest that says what to undo or finish: on reopening,
points of an uncommitted generation are deleted and a retirement is completed. So the store
serves every acknowledged write and no half-written one.

The engines behind `StoreBackend` (`backend.py`: the protocol, points, selections, manifests):
- `EdgeBackend` (`edge_backend.py`): Qdrant Edge, Qdrant's engine in-process on disk (the
  embedded default, no server);
- `QdrantClientBackend` (`qdrant_backend.py`): qdrant-client against a Qdrant server
  (`FINERAG_QDRANT_URL`), or its local mode (`FINERAG_VECTOR_STORE=local`, a Python scan for
  tests and for stores made by earlier versions).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from services.retrieval.core.backend import (
    DENSE,
    GENERATION,
    SPARSE,
    Manifest,
    Point,
    Retiring,
    ScoredChunk,
    Selection,
    StoreBackend,
    VectorQuery,
    point_id,
    retired,
    visible,
)
from services.retrieval.core.sparse import SparseTerms
from shared.contracts.schemas import Chunk, SearchMode
from shared.infrastructure.retrieval_client import DocumentInfo
from shared.infrastructure.settings import Settings

# Candidates each vector contributes to the fusion, per result asked for.
PREFETCH_FACTOR = 4
MIN_PREFETCH = 20
# Reciprocal Rank Fusion's constant: score = sum of 1 / (k + rank); Qdrant's default.
RRF_K = 2
# Payload fields a search filter may name.
FILTERABLE_FIELDS = frozenset({"doc_id", "doc_version", "source", "title", "section", "tags"})


@dataclass(frozen=True)
class StoredChunk:
    """A chunk with its two vectors, ready to be written."""

    chunk: Chunk
    dense: Sequence[float]
    sparse: SparseTerms


def fuse(rankings: Sequence[Sequence[ScoredChunk]], limit: int) -> list[ScoredChunk]:
    """Reciprocal Rank Fusion: each ranking gives a chunk 1 / (RRF_K + rank), ranks from 0.

    Equal fused scores keep the order in which the chunks were first met (dense ranking first),
    as qdrant-client does, so every engine returns the same hits for the same rankings.
    """
    scores: dict[str, float] = {}
    payloads: dict[str, dict[str, Any]] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            key = hit.payload["chunk_id"]
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
            payloads.setdefault(key, hit.payload)
    best = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:limit]
    return [ScoredChunk(payloads[key], score) for key, score in best]


class Readers:
    """Counts the reads in flight, so that a deletion can wait for those that began before it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._draining = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._draining)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def drain(self) -> None:
        """Return once every read that started before this call has ended."""
        with self._cond:
            self._draining = True
            try:
                self._cond.wait_for(lambda: not self._active)
            finally:
                self._draining = False
                self._cond.notify_all()


class ChunkStore:
    """Collections, transactional writes and searches on one engine; knows nothing of embedding."""

    def __init__(self, backend: StoreBackend) -> None:
        self.backend = backend
        self._manifests: dict[str, Manifest] = {}
        self._write_lock = threading.RLock()
        self._load_lock = threading.Lock()  # never held while waiting for readers
        self._readers = Readers()

    @classmethod
    def open(cls, settings: Settings) -> ChunkStore:
        """The store the settings name: a Qdrant server, else Qdrant Edge (or local mode)."""
        if settings.qdrant_url:
            from services.retrieval.core.qdrant_backend import QdrantClientBackend

            return cls(QdrantClientBackend.server(settings))
        if settings.vector_store == "local":
            from services.retrieval.core.qdrant_backend import QdrantClientBackend

            return cls(QdrantClientBackend.local(settings.qdrant_path))
        from services.retrieval.core.edge_backend import EdgeBackend

        return cls(EdgeBackend(settings.edge_path, optimize_after=settings.edge_optimize_after))

    # --- collections --------------------------------------------------------------------------
    def close(self) -> None:
        """Release the engine (its folder locks, its background work)."""
        self.backend.close()

    def ping(self) -> None:
        """Raise if the engine does not answer."""
        self.backend.ping()

    def exists(self, kb: str) -> bool:
        """Whether the knowledge base has a collection."""
        return self.backend.exists(kb)

    def create(self, kb: str, dimension: int) -> bool:
        """Create the collection if it is missing; True when it was created."""
        with self._write_lock:
            if not self.backend.create(kb, dimension):
                return False
            self._set_manifest(kb, Manifest())
            return True

    def drop(self, kb: str) -> bool:
        """Delete the collection; True when it existed."""
        with self._write_lock:
            self._manifests.pop(kb, None)
            return self.backend.drop(kb)

    def collections(self) -> list[dict[str, Any]]:
        """Every knowledge base with its point count."""
        return [{"name": name, "points": self.count(name)} for name in sorted(self.backend.names())]

    # --- transactions -------------------------------------------------------------------------
    def manifest(self, kb: str) -> Manifest:
        """The collection's manifest, recovering an interrupted write on first sight."""
        found = self._manifests.get(kb)
        if found is not None:
            return found
        with self._load_lock:
            if kb not in self._manifests:
                self._manifests[kb] = self._recover(kb)
            return self._manifests[kb]

    def _recover(self, kb: str) -> Manifest:
        stored = self.backend.read_manifest(kb)
        if stored is None:  # a collection from before manifests: every point is committed
            self.backend.stamp_generation(kb, 0)
            stored = Manifest()
            self.backend.write_manifest(kb, stored)
        if stored.writing is not None:  # killed mid-write: drop what it had stored
            self.backend.delete(kb, Selection(min_generation=stored.committed))
            stored = replace(stored, writing=None)
            self.backend.write_manifest(kb, stored)
        # No search can hold this collection's manifest yet: nothing to wait for.
        return self._finish(kb, stored, drain=False)

    def _set_manifest(self, kb: str, manifest: Manifest) -> None:
        self.backend.write_manifest(kb, manifest)
        self._manifests[kb] = manifest

    def _finish(self, kb: str, manifest: Manifest, *, drain: bool = True) -> Manifest:
        """Delete what the manifest retires, then forget the retirement."""
        if manifest.retiring is None:
            return manifest
        if drain:  # a search under the previous manifest may still be reading those points
            self._readers.drain()
        self.backend.delete(kb, retired(manifest.retiring))
        done = replace(manifest, retiring=None)
        self._set_manifest(kb, done)
        return done

    def _write_points(self, kb: str, before: Manifest, points: Sequence[Point]) -> None:
        """Store a transaction's points; on failure, remove what got stored and re-raise."""
        try:
            self.backend.upsert(kb, points)
        except BaseException:
            self.backend.delete(kb, Selection(min_generation=before.committed))
            self._set_manifest(kb, replace(before, writing=None))
            raise

    def upsert(
        self, kb: str, items: Sequence[StoredChunk], *, replace_documents: bool = False
    ) -> int:
        """Write the chunks as one transaction; returns points written.

        Same chunk id = same point, overwritten. With `replace_documents`, every other point of
        each document in `items` (older versions, positions past a shorter version's end)
        disappears in the same step as the new points appear.
        """
        if not items:
            return 0
        with self._write_lock:
            current = self.manifest(kb)
            generation = current.committed + 1
            self._set_manifest(kb, replace(current, writing=generation))
            points = [
                Point(
                    id=point_id(item.chunk.id),
                    dense=item.dense,
                    sparse=item.sparse,
                    payload={
                        "chunk_id": item.chunk.id,
                        **item.chunk.model_dump(exclude={"id"}),
                        GENERATION: generation,
                    },
                )
                for item in items
            ]
            self._write_points(kb, current, points)
            doc_ids = tuple(sorted({item.chunk.doc_id for item in items}))
            retiring = Retiring(doc_ids, generation) if replace_documents else None
            self._set_manifest(kb, Manifest(committed=generation, retiring=retiring))
            self._finish(kb, self._manifests[kb])
            self.backend.written(kb)
            return len(points)

    def delete_document(self, kb: str, doc_id: str, *, keep_version: str | None = None) -> int:
        """Delete a document's points (all, or all but one version); returns points deleted."""
        with self._write_lock:
            current = self.manifest(kb)
            retiring = Retiring((doc_id,), current.committed + 1, keep_version)
            doomed = self.backend.count(kb, retired(retiring))
            if doomed:
                self._set_manifest(kb, replace(current, retiring=retiring))
                self._finish(kb, self._manifests[kb])
                self.backend.written(kb)
            return doomed

    # --- reads --------------------------------------------------------------------------------
    def count(self, kb: str, equals: dict[str, Any] | None = None) -> int:
        """Visible points in the collection, optionally only those matching a payload filter."""
        with self._readers.reading():
            return self.backend.count(kb, visible(self.manifest(kb), equals))

    def documents(self, kb: str, doc_id: str | None = None) -> list[DocumentInfo]:
        """The documents in a collection (or just `doc_id`), with chunk counts per version."""
        found: dict[str, DocumentInfo] = {}
        fields = ["doc_id", "doc_version", "source", "title"]
        with self._readers.reading():
            selection = visible(self.manifest(kb), {"doc_id": doc_id} if doc_id else None)
            payloads = [payload for payload, _ in self.backend.scroll(kb, selection, fields)]
        for payload in payloads:
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
        if mode == "sparse" and sparse.is_empty():
            return []
        with self._readers.reading():
            selection = visible(self.manifest(kb), equals)
            if mode != "hybrid":
                using = DENSE if mode == "dense" else SPARSE
                query = VectorQuery(using, dense, sparse, limit, selection, score_threshold)
                return self.backend.nearest(kb, [query])[0]
            depth = max(limit * PREFETCH_FACTOR, MIN_PREFETCH)
            queries = [VectorQuery(DENSE, dense, sparse, depth, selection)]
            if not sparse.is_empty():
                queries.append(VectorQuery(SPARSE, dense, sparse, depth, selection))
            rankings = self.backend.nearest(kb, queries)
        fused = fuse(rankings, limit)
        if score_threshold is None:
            return fused
        return [hit for hit in fused if hit.score >= score_threshold]

    def export(self, kb: str) -> Iterator[Point]:
        """Every visible point with its vectors (for moving a collection to another engine)."""
        selection = visible(self.manifest(kb))
        for _, point in self.backend.scroll(kb, selection, [], with_vectors=True):
            assert point is not None
            yield point

    def import_points(
        self,
        kb: str,
        points: Iterable[Point],
        *,
        page: int = 1024,
        progress: Callable[[int], object] | None = None,
    ) -> int:
        """Write exported points as they are, in one transaction (generations reset).

        The points are sent to the engine a page at a time, so a whole collection moves without
        being held in memory; readers see none of them until the last page is stored, and a
        process killed part-way leaves nothing behind (reopening undoes the uncommitted write).
        `progress` is told the size of each page stored. Returns points written.
        """
        with self._write_lock:
            current = self.manifest(kb)
            generation = current.committed + 1
            self._set_manifest(kb, replace(current, writing=generation))
            written, remaining = 0, iter(points)
            while batch := list(itertools.islice(remaining, page)):
                stamped = [replace(p, payload={**p.payload, GENERATION: generation}) for p in batch]
                self._write_points(kb, current, stamped)
                written += len(stamped)
                if progress is not None:
                    progress(len(stamped))
            self._set_manifest(kb, Manifest(committed=generation))
            self.backend.written(kb)
            return written


def local_store_exists(settings: Settings) -> bool:
    """Whether the data dir holds a qdrant-client local-mode store (the embedded engine before
    Qdrant Edge): what `finerag migrate-store` moves."""
    return (settings.qdrant_path / "collection").is_dir()


def migrate(
    source: ChunkStore, target: ChunkStore, *, progress: Callable[[int], object] | None = None
) -> dict[str, int | None]:
    """Copy every collection's visible points, vectors included, into another store.

    Nothing is embedded again. Each collection moves in one transaction, so an interrupted
    migration leaves the target's collection empty and running it again finishes the job; a
    collection the target already holds points of is left alone (reported as None). `progress`
    is told of each page of points stored. Returns points copied per collection.
    """
    copied: dict[str, int | None] = {}
    for kb in sorted(source.backend.names()):
        if target.exists(kb) and target.count(kb) > 0:
            copied[kb] = None
            continue
        points = source.export(kb)
        first = next(points, None)
        if first is None:  # an empty collection: nothing says its dimension; made on first write
            copied[kb] = 0
            continue
        target.create(kb, len(first.dense))
        moving = itertools.chain([first], points)
        copied[kb] = target.import_points(kb, moving, progress=progress)
    return copied
