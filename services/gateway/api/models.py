"""`GET /v1/models` and `GET /v1/models/<id>`."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from services.gateway.api.deps import get_runtime
from services.gateway.api.responses import Model
from shared.contracts.schemas import ListPage

models_bp = Blueprint("models", __name__)


@models_bp.get("/v1/models")
def list_models() -> ResponseReturnValue:
    """The base model, the promoted fine-tuned models (`?all=true`: every one), the agents."""
    runtime = get_runtime()
    models = runtime.backend.list_models()
    if request.args.get("all", "").lower() not in ("1", "true", "yes"):
        models = [m for m in models if m.extra.get("promoted", True)]
    models += runtime.agents.list_models()
    return jsonify(ListPage[Model](data=[Model.of(m) for m in models]).model_dump(mode="json"))


@models_bp.get("/v1/models/<path:model>")
def get_model(model: str) -> ResponseReturnValue:
    """One model or agent (404 when it is not served)."""
    runtime = get_runtime()
    agent = next((m for m in runtime.agents.list_models() if m.id == model), None)
    if agent is not None:
        return jsonify(Model.of(agent).model_dump(mode="json"))
    runtime.backend.check_model(model)
    found = next(m for m in runtime.backend.list_models() if m.id == model)
    return jsonify(Model.of(found).model_dump(mode="json"))
