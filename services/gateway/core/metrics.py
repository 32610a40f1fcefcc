"""Prometheus metrics of one gateway process (its own registry, so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GatewayMetrics:
    """Requests by route and status, latencies, token counts, queue depth, batch size."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "finerag_gateway_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "finerag_gateway_request_seconds",
            "End-to-end request latency.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.time_to_first_token = Histogram(
            "finerag_gateway_time_to_first_token_seconds",
            "Time from request to the first answer text.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "finerag_gateway_prompt_tokens", "Prompt tokens processed.", registry=self.registry
        )
        self.completion_tokens = Counter(
            "finerag_gateway_completion_tokens", "Tokens generated.", registry=self.registry
        )
        self.queue_depth = Gauge(
            "finerag_gateway_queue_depth",
            "Requests waiting for a batch.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "finerag_gateway_requests_in_flight",
            "Requests being served.",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "finerag_gateway_batch_size",
            "Requests generated together.",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
