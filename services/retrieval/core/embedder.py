"""The dense embedder: one sentence-transformers model per process, embedding in batches."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from shared.models.embedding import resolve_embedding_model

log = logging.getLogger("finerag.retrieval.embedder")

# Inputs this small (a search query) run on one CPU thread: starting the other intra-op
# threads costs more than they save, and on a busy machine far more (measured here under load:
# one query 31 ms on one thread, 740 ms on two).
SINGLE_THREAD_MAX_TEXTS = 4


class Embedder:
    """Unit-length dense vectors for texts, from a sentence-transformers model."""

    def __init__(
        self, model_name: str, *, batch_size: int = 64, threads: int = 0, device: str = "cpu"
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        self._torch = torch
        self._batch_threads = threads or torch.get_num_threads()

        path = resolve_embedding_model(model_name)
        self._model = SentenceTransformer(path, device=device)
        self.name = model_name
        self.batch_size = batch_size
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise ValueError(f"embedding model {model_name!r} does not report its dimension")
        self.dimension = int(dimension)
        # torch inference is thread-safe, but one forward pass at a time keeps the CPU threads
        # of a batch together instead of splitting them between concurrent requests.
        self._lock = threading.Lock()
        log.info("embedding model loaded", extra={"model": model_name, "dim": self.dimension})

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One normalised vector per text, shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        threads = 1 if len(texts) <= SINGLE_THREAD_MAX_TEXTS else self._batch_threads
        with self._lock:
            # The thread count is the process's: restore it, or a model trained or evaluated
            # later in the same process (the embedded pipeline) would run on one thread.
            previous = self._torch.get_num_threads()
            if previous != threads:
                self._torch.set_num_threads(threads)
            try:
                vectors = self._model.encode(
                    list(texts),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                if previous != threads:
                    self._torch.set_num_threads(previous)
        return np.asarray(vectors, dtype=np.float32)
