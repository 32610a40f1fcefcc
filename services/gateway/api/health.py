"""`/health` (the process is up) and `/ready` (it can answer: model and retrieval work)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import MISSING

from services.gateway.api.deps import get_runtime
from services.gateway.api.responses import Health, Readiness, ReadyChecks
from shared.contracts.errors import FineRAGError, ServiceUnavailableError

health_bp = Blueprint("health", __name__)


@health_bp.get("/health")
def health() -> ResponseReturnValue:
    """Liveness: always 200 while the process answers."""
    return jsonify(Health().model_dump(mode="json"))


@health_bp.get("/ready")
def ready() -> ResponseReturnValue:
    """Readiness: a one-token generation works, and retrieval answers when RAG is configured."""
    runtime = get_runtime()
    try:
        runtime.backend.check_ready()
        if runtime.retrieval is not None:
            runtime.retrieval.list_collections()
    except FineRAGError as exc:
        raise ServiceUnavailableError(f"Not ready: {exc.message}", code="not_ready") from exc
    checks = ReadyChecks(model="ok", retrieval="ok" if runtime.retrieval is not None else MISSING)
    return jsonify(Readiness(checks=checks).model_dump(mode="json"))
