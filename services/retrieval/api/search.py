"""`POST /v1/collections/{kb}/search`: dense, sparse or hybrid search of one knowledge base."""

from __future__ import annotations

import time

from fastapi import APIRouter

from services.retrieval.api.deps import IndexDep
from services.retrieval.api.prometheus import SEARCH_SECONDS
from shared.contracts.schemas import SearchRequest, SearchResponse

router = APIRouter(prefix="/v1/collections", tags=["search"])


@router.post("/{kb}/search")
def search(kb: str, body: SearchRequest, index: IndexDep) -> SearchResponse:
    """The top-k chunks for the query, each with what a citation needs."""
    started = time.perf_counter()
    response = index.search(kb, body)
    SEARCH_SECONDS.labels(body.mode).observe(time.perf_counter() - started)
    return response
