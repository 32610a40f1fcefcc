"""Per-request guards: API keys, the per-key rate limit, the concurrency cap, request metrics."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from services.gateway.api.deps import built_runtime, get_runtime, get_settings_of_app
from services.gateway.core.auth import Caller, authenticate
from services.gateway.core.concurrency import ConcurrencyLimit

# Liveness must answer without credentials (orchestrators probe it).
PUBLIC_ENDPOINTS = frozenset({"health.health"})
# The expensive API: counted against the rate limit and the concurrency cap.
LIMITED_PREFIX = "/v1/"


def check_knowledge_base(knowledge_base: str) -> str:
    """`knowledge_base` if the request's key may use it; else the 404 of a missing base."""
    caller: Caller | None = g.get("caller")
    return caller.check_knowledge_base(knowledge_base) if caller else knowledge_base


def trade_slot_for(limit: ConcurrencyLimit) -> None:
    """Take a slot of `limit` (503 when full) and give the request's gateway slot back.

    An agent request waits on its own model steps, which are requests to this gateway: were
    it to keep a gateway slot, agents alone could fill the cap and starve their own steps.
    """
    limit.acquire()
    if g.pop("holds_slot", False):
        runtime = get_runtime()
        runtime.concurrency.release()
        runtime.metrics.in_flight.set(runtime.concurrency.in_flight)


def install_guards(app: Flask) -> None:
    """Register the guards; they run after the request id and body-size checks."""

    @app.before_request
    def _guard() -> None:
        g.started = time.monotonic()
        if request.endpoint in PUBLIC_ENDPOINTS:
            return
        caller = authenticate(request.headers.get("Authorization"), get_settings_of_app().api_keys)
        g.caller = caller
        if request.url_rule is None or not request.path.startswith(LIMITED_PREFIX):
            return
        runtime = get_runtime()
        runtime.rate_limiter.check(caller.key_id if caller else f"addr:{request.remote_addr}")
        runtime.concurrency.acquire()
        g.holds_slot = True
        runtime.metrics.in_flight.set(runtime.concurrency.in_flight)

    @app.after_request
    def _account(response: Response) -> Response:
        runtime = built_runtime()
        holds_slot = g.pop("holds_slot", False)
        if runtime is None:
            return response
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = g.get("started", time.monotonic())

        def _done() -> None:
            # Runs when the response is fully sent (a stream included).
            runtime.metrics.requests.labels(route, str(response.status_code)).inc()
            runtime.metrics.latency.labels(route).observe(time.monotonic() - started)
            if holds_slot:
                runtime.concurrency.release()
                runtime.metrics.in_flight.set(runtime.concurrency.in_flight)

        response.call_on_close(_done)
        return response
