"""The ingestion service's FastAPI app factory: uploads in, jobs queued on `ingest`.

Run it with `finerag serve ingestion` (uvicorn, default port 8002); the work is done by
`finerag serve ingestion-worker`. Both need the retrieval service (FINERAG_RETRIEVAL_URL,
default http://127.0.0.1:8001) and Redis (FINERAG_REDIS_URL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.ingestion.api import documents, health, jobs
from services.ingestion.api.deps import IngestionContext
from services.ingestion.core.jobs import JobStore
from services.ingestion.queue import create_celery
from services.ingestion.retrieval import connect_retrieval
from shared.infrastructure.fastapi_guards import MULTIPART_ALLOWANCE_BYTES, install_service_http
from shared.infrastructure.settings import Settings, get_settings

DEFAULT_PORT = 8002


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; Redis, the retrieval client and Celery are connected at startup."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        retrieval = connect_retrieval(settings)
        app.state.context = IngestionContext(
            settings=settings,
            jobs=JobStore.from_url(settings.redis_url),
            retrieval=retrieval,
            celery=create_celery(settings),
        )
        try:
            yield
        finally:
            retrieval.close()

    app = FastAPI(title="FineRAG ingestion", version="1", lifespan=lifespan)
    install_service_http(
        app,
        max_body_bytes=settings.max_upload_bytes + MULTIPART_ALLOWANCE_BYTES,
        service_token=settings.service_token,
    )
    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(jobs.router)
    return app
