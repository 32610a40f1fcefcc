"""`/health` (process up), `/ready` (model loaded, store answering), `/metrics` (Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.contracts.errors import error_body

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, Any]:
    """Liveness: always 200 while the process answers."""
    return {"status": "ok"}


@router.get("/ready")
def ready(request: Request) -> Response:
    """Readiness: 200 once the embedder is loaded and the store answers, else 503."""
    index = getattr(request.app.state, "index", None)
    if index is None:
        body = error_body("embedding model not loaded", type_="server_error", code="not_ready")
        return JSONResponse(body, status_code=503)
    try:
        index.ping()
    except Exception as exc:
        body = error_body(f"store not answering: {exc}", type_="server_error", code="not_ready")
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "embedding_model": index.embedder.name})


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
