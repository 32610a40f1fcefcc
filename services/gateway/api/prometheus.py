"""`GET /metrics`: the Prometheus text format."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from services.gateway.api.deps import get_runtime

metrics_bp = Blueprint("metrics", __name__)


@metrics_bp.get("/metrics")
def metrics() -> Response:
    """Requests, latencies, tokens, queue depth and batch sizes of this process."""
    return Response(get_runtime().metrics.render(), content_type=CONTENT_TYPE_LATEST)
