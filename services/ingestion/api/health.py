"""`/health` (process up), `/ready` (Redis and retrieval answering), `/metrics` (Prometheus)."""

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
    """Readiness: 200 when Redis (jobs, broker) and the retrieval service answer, else 503."""
    context = request.app.state.context
    try:
        context.jobs.ping()
        context.retrieval.list_collections()
    except Exception as exc:
        body = error_body(f"not ready: {exc}", type_="server_error", code="not_ready")
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
