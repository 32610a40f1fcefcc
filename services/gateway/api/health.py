"""`/health`: the process is up (no dependencies are checked; `/ready` does that)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

health_bp = Blueprint("health", __name__)


@health_bp.get("/health")
def health() -> ResponseReturnValue:
    """Liveness: always 200 while the process answers."""
    return jsonify({"status": "ok"})
