"""Prometheus metrics of the retrieval service, and the middleware that records requests."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "finerag_retrieval_http_requests_total",
    "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "finerag_retrieval_http_request_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SEARCH_SECONDS = Histogram(
    "finerag_retrieval_search_seconds",
    "Time of the search core (embed + query), by mode.",
    ["mode"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
CHUNKS_UPSERTED = Counter(
    "finerag_retrieval_chunks_upserted_total", "Chunks embedded and written to the store."
)
POINTS_DELETED = Counter("finerag_retrieval_points_deleted_total", "Points deleted from the store.")


def install_request_metrics(app: FastAPI) -> None:
    """Count and time every request by its route template (not its raw path)."""

    @app.middleware("http")
    async def _record(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response
