"""Dependencies of the ingestion routes: settings, job store, retrieval client, Celery app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request

from services.ingestion.core.jobs import JobStore
from shared.infrastructure.retrieval_client import RetrievalClient
from shared.infrastructure.settings import Settings


@dataclass
class IngestionContext:
    """What the routes share, built once at startup."""

    settings: Settings
    jobs: JobStore
    retrieval: RetrievalClient
    celery: Celery


def get_context(request: Request) -> IngestionContext:
    """The context stored on the app at startup."""
    context: IngestionContext = request.app.state.context
    return context


ContextDep = Annotated[IngestionContext, Depends(get_context)]
