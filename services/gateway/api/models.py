"""`GET /v1/models` and `GET /v1/models/<id>`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from services.gateway.api.deps import get_runtime
from services.gateway.core.generation import ModelInfo

models_bp = Blueprint("models", __name__)


def _model_body(model: ModelInfo) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": model.id,
        "object": "model",
        "created": model.created,
        "owned_by": "finerag",
        "root": model.parent or model.id,
        "parent": model.parent,
    }
    body.update(model.extra)
    return body


@models_bp.get("/v1/models")
def list_models() -> ResponseReturnValue:
    """The base model, then the promoted fine-tuned models (`?all=true`: every one)."""
    models = get_runtime().backend.list_models()
    if request.args.get("all", "").lower() not in ("1", "true", "yes"):
        models = [m for m in models if m.extra.get("promoted", True)]
    return jsonify({"object": "list", "data": [_model_body(m) for m in models]})


@models_bp.get("/v1/models/<path:model>")
def get_model(model: str) -> ResponseReturnValue:
    """One model (404 when it is not served)."""
    backend = get_runtime().backend
    backend.check_model(model)
    found = next(m for m in backend.list_models() if m.id == model)
    return jsonify(_model_body(found))
