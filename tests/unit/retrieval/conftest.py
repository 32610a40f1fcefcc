"""A knowledge index on a real store (both engines) and a deterministic stand-in embedder."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from services.retrieval.core.index import KnowledgeIndex
from services.retrieval.core.store import ChunkStore
from shared.infrastructure.settings import Settings


class BagOfWordsEmbedder:
    """Hashes words into 64 dimensions: similar texts get similar vectors, no model needed."""

    name = "bag-of-words-64"
    dimension = 64

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.blake2b(word.strip(".,?!").encode(), digest_size=2).digest()
                vectors[row, int.from_bytes(digest, "big") % self.dimension] += 1.0
            norm = np.linalg.norm(vectors[row])
            vectors[row] /= norm if norm else 1.0
        return vectors


@pytest.fixture(params=["edge", "local"])
def engine(request: pytest.FixtureRequest) -> str:
    """Every store test runs on both engines: Qdrant Edge, and qdrant-client (local mode stands
    in for a Qdrant server: it speaks the server's API)."""
    return str(request.param)


@pytest.fixture
def index(tmp_path: Path, engine: str) -> Iterator[KnowledgeIndex]:
    store = ChunkStore.open(Settings(data_dir=tmp_path, vector_store=engine))
    knowledge = KnowledgeIndex(BagOfWordsEmbedder(), store)  # type: ignore[arg-type]
    yield knowledge
    knowledge.close()
