"""The embedder runs a search query on one thread without taking the process's threads away."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from services.retrieval.core.embedder import SINGLE_THREAD_MAX_TEXTS, Embedder
from shared.infrastructure.settings import Settings


@pytest.fixture
def two_threads() -> Iterator[int]:
    """The process on two intra-op threads (whatever the machine), restored afterwards."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(saved)


def test_a_query_leaves_the_process_thread_count_as_it_found_it(two_threads: int) -> None:
    embedder = Embedder(Settings(_env_file=None).embedding_model)
    before = torch.get_num_threads()
    assert before == two_threads
    query = embedder.embed(["return window for thermostats"])
    assert torch.get_num_threads() == before  # training later in this process keeps every core
    batch = embedder.embed(["a chunk"] * (SINGLE_THREAD_MAX_TEXTS + 1))
    assert torch.get_num_threads() == before
    assert query.shape == (1, embedder.dimension)
    assert batch.shape == (SINGLE_THREAD_MAX_TEXTS + 1, embedder.dimension)
