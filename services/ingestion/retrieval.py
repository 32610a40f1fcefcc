"""The ingestion service's connection to the retrieval service (HTTP; never its code)."""

from __future__ import annotations

from shared.retrieval_client import HttpRetrievalClient
from shared.settings import Settings

DEFAULT_RETRIEVAL_URL = "http://127.0.0.1:8001"


def connect_retrieval(settings: Settings) -> HttpRetrievalClient:
    """A client for FINERAG_RETRIEVAL_URL (default: the retrieval service on this host)."""
    return HttpRetrievalClient(
        settings.retrieval_url or DEFAULT_RETRIEVAL_URL, timeout_s=settings.retrieval_timeout_s
    )
