"""Dependencies of the retrieval routes: the one knowledge index of the process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.retrieval.core.index import KnowledgeIndex
from shared.contracts.errors import ServiceUnavailableError


def get_index(request: Request) -> KnowledgeIndex:
    """The index loaded at startup (503 while it is still loading)."""
    index: KnowledgeIndex | None = getattr(request.app.state, "index", None)
    if index is None:
        raise ServiceUnavailableError("the retrieval index is not loaded yet")
    return index


IndexDep = Annotated[KnowledgeIndex, Depends(get_index)]
