"""The retrieval service's FastAPI app factory: loads the index once, installs the routes.

Run it with `finerag serve retrieval` (uvicorn, default port 8001).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.retrieval.api import collections, health, search
from services.retrieval.api.prometheus import install_request_metrics
from services.retrieval.core.index import KnowledgeIndex
from shared.fastapi_guards import install_service_http
from shared.settings import Settings, get_settings

log = logging.getLogger("finerag.retrieval")

DEFAULT_PORT = 8001


def create_app(settings: Settings | None = None, index: KnowledgeIndex | None = None) -> FastAPI:
    """Build the app; the index is opened at startup unless one is handed in (tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = index is None
        app.state.index = index or KnowledgeIndex.open(settings)
        log.info("retrieval ready", extra={"store": settings.qdrant_url or "local"})
        try:
            yield
        finally:
            if owned:
                app.state.index.close()
            app.state.index = None

    app = FastAPI(title="FineRAG retrieval", version="1", lifespan=lifespan)
    app.state.index = None
    install_request_metrics(app)
    install_service_http(
        app,
        max_body_bytes=settings.retrieval_max_body_bytes,
        service_token=settings.service_token,
    )
    app.include_router(health.router)
    app.include_router(collections.router)
    app.include_router(search.router)
    return app
