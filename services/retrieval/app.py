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
from services.retrieval.core.store import local_store_exists
from shared.infrastructure.fastapi_guards import install_service_http
from shared.infrastructure.settings import Settings, get_settings

log = logging.getLogger("finerag.retrieval")

DEFAULT_PORT = 8001


def create_app(settings: Settings | None = None, index: KnowledgeIndex | None = None) -> FastAPI:
    """Build the app; the index is opened at startup unless one is handed in (tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = index is None
        app.state.index = index or KnowledgeIndex.open(settings)
        store = settings.qdrant_url or f"{settings.vector_store} under {settings.data_dir}"
        log.info("retrieval ready", extra={"store": store})
        embedded_edge = not settings.qdrant_url and settings.vector_store == "edge"
        # The folder check comes first: one stat, where listing collections counts their points.
        if (
            owned
            and embedded_edge
            and local_store_exists(settings)
            and not app.state.index.store.collections()
        ):
            log.warning(
                "the knowledge bases are in a local-mode store at %s, which this version no "
                "longer reads by default: run `finerag migrate-store` to move them to Edge",
                settings.qdrant_path,
            )
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
