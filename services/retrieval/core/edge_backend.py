"""Qdrant Edge as a store engine: Qdrant's own engine in this process, one shard per collection.

HNSW for dense vectors, an inverted index with IDF for sparse ones, payload indexes and a
write-ahead log, all on disk under `FINERAG_DATA_DIR/edge`, with no server to run:

    edge/<kb>/CURRENT          the name of the live shard folder
    edge/<kb>/shard-<n>/       an Edge shard (segments and WAL)
    edge/<kb>/manifest.json    the collection's transaction state (see store.py)

Index maintenance (Edge's `optimize`: merging segments, building HNSW) runs off the request path.
`optimize` holds the interpreter lock for as long as it runs, seconds to a minute, so it cannot run
in a thread of the serving process. `Optimizer` copies the shard, optimises the copy in a child
process (`edge_optimize.py`) while searches and writes go on against the live shard, replays the
writes made meanwhile on the copy, and swaps it in by rewriting `CURRENT`.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

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
from services.retrieval.core.edge_maintenance import Optimizer
from services.retrieval.core.sparse import SparseTerms
from shared.infrastructure.files import write_text_atomically

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
_SCROLL_PAGE = 512


def _match(key: str, value: Any) -> qe.FieldCondition:
    if isinstance(value, list):
        return qe.FieldCondition(key=key, match=qe.MatchAny(any=value))
    return qe.FieldCondition(key=key, match=qe.MatchValue(value=value))


def to_filter(selection: Selection) -> qe.Filter | None:
    """The Edge filter of a selection."""
    must: list[Any] = [_match(k, v) for k, v in selection.equals.items()]
    must_not: list[Any] = [_match(k, v) for k, v in selection.exclude.items()]
    if selection.max_generation is not None or selection.min_generation is not None:
        rng = qe.RangeFloat(lte=selection.max_generation, gt=selection.min_generation)
        must.append(qe.FieldCondition(key=GENERATION, range=rng))
    if selection.retiring is not None:
        retiring = selection.retiring
        inner: list[Any] = [
            _match("doc_id", list(retiring.doc_ids)),
            qe.FieldCondition(key=GENERATION, range=qe.RangeFloat(lt=retiring.below)),
        ]
        keep: list[Any] | None = (
            [_match("doc_version", retiring.keep_version)] if retiring.keep_version else None
        )
        must_not.append(qe.Filter(must=inner, must_not=keep))
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)


def _sparse(terms: SparseTerms) -> qe.SparseVector:
    return qe.SparseVector(indices=list(terms.indices), values=list(terms.values))


def shard_config(dimension: int) -> qe.EdgeConfig:
    """A collection's engine settings: cosine dense vectors, IDF-weighted sparse ones."""
    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
    )


class EdgeBackend:
    """Collections as Qdrant Edge shards in a folder."""

    def __init__(self, root: Path, *, optimize_after: int | None = None) -> None:
        """Collections under `root`; an optimisation starts after `optimize_after` changes."""
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._shards: dict[str, qe.EdgeShard] = {}
        self._lock = threading.RLock()
        self.optimizer = Optimizer(self, optimize_after=optimize_after)

    # --- shards -------------------------------------------------------------------------------
    def folder(self, kb: str) -> Path:
        return self.root / kb

    def shard(self, kb: str) -> qe.EdgeShard:
        """The open shard of a collection (opened on first use)."""
        found = self._shards.get(kb)
        if found is not None:
            return found
        with self._lock:
            if kb not in self._shards:
                folder = self.folder(kb)
                live = (folder / CURRENT).read_text(encoding="utf-8").strip()
                self._shards[kb] = qe.EdgeShard.load(str(folder / live))
                for stale in folder.glob("shard-*"):  # an optimisation cut short, or retired
                    if stale.name != live:
                        shutil.rmtree(stale, ignore_errors=True)
            return self._shards[kb]

    def swap(self, kb: str, shard: qe.EdgeShard, name: str) -> None:
        """Make an optimised shard the live one (the caller holds `write_lock`)."""
        folder = self.folder(kb)
        write_text_atomically(folder / CURRENT, name)
        with self._lock:
            self._shards[kb] = shard  # searches in flight keep the old object until they end

    def write_lock(self) -> threading.RLock:
        return self._lock

    def update(self, kb: str, operation: qe.UpdateOperation, points: int = 1) -> None:
        """Apply a write to the live shard (and to an optimised copy in the making)."""
        with self._lock:
            self.shard(kb).update(operation)
            self.optimizer.record(kb, operation, points)

    # --- the StoreBackend protocol ------------------------------------------------------------
    def close(self) -> None:
        self.optimizer.stop()
        with self._lock:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()

    def ping(self) -> None:
        if not self.root.is_dir():
            raise OSError(f"store folder {self.root} is missing")

    def names(self) -> list[str]:
        return sorted(
            p.name
            for p in self.root.iterdir()
            if not p.name.startswith(".") and self.exists(p.name)
        )

    def exists(self, kb: str) -> bool:
        return (self.folder(kb) / CURRENT).is_file()

    def create(self, kb: str, dimension: int) -> bool:
        with self._lock:
            if self.exists(kb):
                return False
            staging = self.root / f".creating-{kb}-{uuid.uuid4().hex[:8]}"
            name = "shard-000001"
            shard = qe.EdgeShard.create(str(staging / name), shard_config(dimension))
            for field in INDEXED_KEYWORDS:
                shard.update(
                    qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword)
                )
            shard.update(
                qe.UpdateOperation.create_field_index(GENERATION, qe.PayloadSchemaType.Integer)
            )
            shard.close()
            write_text_atomically(staging / MANIFEST, json.dumps(Manifest().to_json()))
            write_text_atomically(staging / CURRENT, name)
            os.replace(staging, self.folder(kb))
            return True

    def drop(self, kb: str) -> bool:
        with self._lock:
            if not self.exists(kb):
                return False
            self.optimizer.forget(kb)
            shard = self._shards.pop(kb, None)
            if shard is not None:
                shard.close()
            doomed = self.root / f".dropped-{kb}-{uuid.uuid4().hex[:8]}"
            os.replace(self.folder(kb), doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            return True

    def read_manifest(self, kb: str) -> Manifest | None:
        path = self.folder(kb) / MANIFEST
        if not path.is_file():
            return None
        return Manifest.from_json(json.loads(path.read_text(encoding="utf-8")))

    def write_manifest(self, kb: str, manifest: Manifest) -> None:
        write_text_atomically(self.folder(kb) / MANIFEST, json.dumps(manifest.to_json()))

    def stamp_generation(self, kb: str, generation: int) -> None:
        unstamped = qe.Filter(must=[qe.FieldCondition(key=GENERATION, is_empty=True)])
        self.update(
            kb, qe.UpdateOperation.set_payload_by_filter(unstamped, {GENERATION: generation})
        )

    def upsert(self, kb: str, points: Sequence[Point]) -> None:
        structs = [
            qe.Point(
                id=point.id,
                vector={DENSE: list(point.dense), SPARSE: _sparse(point.sparse)},
                payload=point.payload,
            )
            for point in points
        ]
        for start in range(0, len(structs), UPSERT_PAGE):
            page = structs[start : start + UPSERT_PAGE]
            self.update(kb, qe.UpdateOperation.upsert_points(page), len(page))

    def delete(self, kb: str, selection: Selection) -> None:
        selector = to_filter(selection)
        if selector is None:
            raise ValueError("refusing to delete every point of a collection; drop it instead")
        self.update(kb, qe.UpdateOperation.delete_points_by_filter(selector))

    def count(self, kb: str, selection: Selection) -> int:
        request = qe.CountRequest(exact=True, filter=to_filter(selection))
        return int(self.shard(kb).count(request))

    def scroll(
        self, kb: str, selection: Selection, fields: Sequence[str], *, with_vectors: bool = False
    ) -> Iterator[tuple[dict[str, Any], Point | None]]:
        shard = self.shard(kb)
        offset: Any = None
        wanted: bool | list[str] = list(fields) if fields and not with_vectors else True
        while True:
            request = qe.ScrollRequest(
                offset=offset,
                limit=_SCROLL_PAGE,
                filter=to_filter(selection),
                with_payload=wanted,
                with_vector=with_vectors,
            )
            records, offset = shard.scroll(request)
            for record in records:
                payload = dict(record.payload or {})
                point = None
                if with_vectors:
                    vectors: Any = record.vector
                    sparse = vectors.get(SPARSE)
                    terms = SparseTerms(
                        list(sparse.indices) if sparse else [],
                        list(sparse.values) if sparse else [],
                    )
                    point = Point(str(record.id), list(vectors[DENSE]), terms, payload)
                yield payload, point
            if offset is None:
                return

    def nearest(self, kb: str, queries: Sequence[VectorQuery]) -> list[list[ScoredChunk]]:
        requests = [
            qe.QueryRequest(
                limit=q.limit,
                query=qe.Query.Nearest(
                    list(q.dense) if q.using == DENSE else _sparse(q.sparse), using=q.using
                ),
                filter=to_filter(q.selection),
                score_threshold=q.score_threshold,
                with_payload=True,
            )
            for q in queries
        ]
        results = self.shard(kb).query_batch(qe.QueryBatchRequest(requests))
        return [
            [ScoredChunk(dict(point.payload or {}), float(point.score)) for point in ranking]
            for ranking in results
        ]

    def written(self, kb: str) -> None:
        """A transaction ended: maybe time to optimise the shard, in the background."""
        self.optimizer.maybe_start(kb)
