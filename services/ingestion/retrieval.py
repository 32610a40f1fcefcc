"""The ingestion service's connection to the retrieval service (HTTP; never its code)."""

from __future__ import annotations

from shared.infrastructure.retrieval_client import HttpRetrievalClient
from shared.infrastructure.settings import Settings


def connect_retrieval(settings: Settings) -> HttpRetrievalClient:
    """A client for FINERAG_RETRIEVAL_URL (default: the retrieval service on this host)."""
    return HttpRetrievalClient.from_settings(settings)
