"""What `ChunkStore` asks of a store engine: the `StoreBackend` protocol and the values it speaks.

Points; the small per-collection `Manifest` an engine keeps beside them; and `Selection`, which
says in engine-neutral terms which points an operation touches (`visible` and `retired` derive the
two that the store's transactions need). The engines (`edge_backend.py`, `qdrant_backend.py`)
turn selections into their own filters; `store.py` says what the transactions mean.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.retrieval.core.sparse import SparseTerms

DENSE = "dense"
SPARSE = "sparse"
# Payload fields with an index in the engine (filters on them do not scan).
INDEXED_KEYWORDS = ("doc_id", "doc_version")
GENERATION = "generation"
# Points an engine is sent per call while writing a large transaction.
UPSERT_PAGE = 256
_POINT_NAMESPACE = uuid.UUID("5b0b4d1e-8f0c-4b7a-9a53-2f6f0d3c1e7a")


@dataclass(frozen=True)
class ScoredChunk:
    """A search result: the chunk's payload and its score."""

    payload: dict[str, Any]
    score: float


@dataclass(frozen=True)
class Point:
    """What an engine stores: an id, both vectors and the payload (with its generation)."""

    id: str
    dense: Sequence[float]
    sparse: SparseTerms
    payload: dict[str, Any]


def point_id(chunk_id: str) -> str:
    """The Qdrant point id of a chunk (a UUID derived from the chunk id)."""
    return str(uuid.uuid5(_POINT_NAMESPACE, chunk_id))


@dataclass(frozen=True)
class Retiring:
    """Points on their way out: the documents' points below a generation, bar one version."""

    doc_ids: tuple[str, ...]
    below: int
    keep_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"doc_ids": list(self.doc_ids), "below": self.below, "keep": self.keep_version}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Retiring:
        return cls(tuple(data["doc_ids"]), int(data["below"]), data.get("keep"))


@dataclass(frozen=True)
class Manifest:
    """A collection's transaction state; replaced whole, never edited in place."""

    committed: int = 0
    writing: int | None = None
    retiring: Retiring | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "committed": self.committed,
            "writing": self.writing,
            "retiring": self.retiring.to_json() if self.retiring else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        retiring = data.get("retiring")
        return cls(
            committed=int(data.get("committed", 0)),
            writing=data.get("writing"),
            retiring=Retiring.from_json(retiring) if retiring else None,
        )


@dataclass(frozen=True)
class Selection:
    """Which points an operation reads or deletes, in engine-neutral terms.

    `equals`: every field matches (a list = any of); `exclude`: no field does. `max_generation`:
    only points at or below it. `retiring`: leave those points out. `min_generation`: only points
    above it (the garbage of an interrupted write).
    """

    equals: dict[str, Any] = field(default_factory=dict)
    exclude: dict[str, Any] = field(default_factory=dict)
    max_generation: int | None = None
    min_generation: int | None = None
    retiring: Retiring | None = None


def visible(manifest: Manifest, equals: dict[str, Any] | None = None) -> Selection:
    """The points a reader may see under this manifest, optionally narrowed by a filter."""
    return Selection(
        equals=dict(equals or {}), max_generation=manifest.committed, retiring=manifest.retiring
    )


def retired(retiring: Retiring) -> Selection:
    """The points a retirement deletes."""
    exclude = {"doc_version": retiring.keep_version} if retiring.keep_version else {}
    return Selection(
        equals={"doc_id": list(retiring.doc_ids)},
        exclude=exclude,
        max_generation=retiring.below - 1,
    )


@dataclass(frozen=True)
class VectorQuery:
    """One nearest-neighbour search: by the dense or the sparse vector, over a selection."""

    using: str
    dense: Sequence[float]
    sparse: SparseTerms
    limit: int
    selection: Selection
    score_threshold: float | None = None


class StoreBackend(Protocol):
    """What an engine does for `ChunkStore`; it knows nothing of generations or documents."""

    def ping(self) -> None: ...
    def close(self) -> None: ...
    def names(self) -> list[str]: ...
    def exists(self, kb: str) -> bool: ...
    def create(self, kb: str, dimension: int) -> bool: ...
    def drop(self, kb: str) -> bool: ...
    def read_manifest(self, kb: str) -> Manifest | None: ...
    def write_manifest(self, kb: str, manifest: Manifest) -> None: ...
    def upsert(self, kb: str, points: Sequence[Point]) -> None: ...
    def delete(self, kb: str, selection: Selection) -> None: ...
    def count(self, kb: str, selection: Selection) -> int: ...
    def scroll(
        self, kb: str, selection: Selection, fields: Sequence[str], *, with_vectors: bool = False
    ) -> Iterator[tuple[dict[str, Any], Point | None]]: ...
    def nearest(self, kb: str, queries: Sequence[VectorQuery]) -> list[list[ScoredChunk]]: ...
    def stamp_generation(self, kb: str, generation: int) -> None: ...
    def written(self, kb: str) -> None: ...
