"""Everything one gateway process serves with, built once from the settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from services.gateway.core.agents.checkpoints import open_checkpointer
from services.gateway.core.agents.runner import AgentService
from services.gateway.core.concurrency import ConcurrencyLimit
from services.gateway.core.feedback_store import FeedbackStore, feedback_db_path
from services.gateway.core.generation import Backend
from services.gateway.core.kb_prompts import KnowledgeBasePrompts, load_kb_prompts
from services.gateway.core.metrics import GatewayMetrics
from services.gateway.core.rate_limit import RateLimiter
from services.gateway.core.serving import CompletionService
from shared.infrastructure.retrieval_client import HttpRetrievalClient, RetrievalClient
from shared.infrastructure.settings import Settings

log = logging.getLogger("finerag.gateway")


@dataclass
class GatewayRuntime:
    """The backend, retrieval, stores and limits behind the routes."""

    settings: Settings
    metrics: GatewayMetrics
    backend: Backend
    retrieval: RetrievalClient | None
    kb_prompts: KnowledgeBasePrompts
    feedback: FeedbackStore
    rate_limiter: RateLimiter
    concurrency: ConcurrencyLimit
    completions: CompletionService
    agents: AgentService
    checkpoints: Any = None  # the agents' checkpoint database connection

    def close(self) -> None:
        """Release the model, connections and the databases."""
        self.backend.close()
        self.feedback.close()
        if self.checkpoints is not None:
            self.checkpoints.close()
        close = getattr(self.retrieval, "close", None)
        if close is not None:
            close()


def rate_limit_redis(url: str) -> Any:
    """A Redis client that fails fast: no retries, one-second timeouts (the limiter fails open)."""
    import redis as redis_lib
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis_lib.Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0)
    )


def build_backend(settings: Settings, metrics: GatewayMetrics) -> Backend:
    """The backend named by FINERAG_SERVE_BACKEND."""
    if settings.serve_backend == "openai":
        from services.gateway.core.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    from services.gateway.core.local_backend import LocalBackend

    return LocalBackend(
        settings, on_queue_depth=metrics.queue_depth.set, on_batch=metrics.batch_size.observe
    )


def build_runtime(
    settings: Settings,
    *,
    backend: Backend | None = None,
    retrieval: RetrievalClient | None = None,
    redis: Any = None,
) -> GatewayRuntime:
    """Wire the runtime; tests and the embedded mode hand in their own parts."""
    metrics = GatewayMetrics()
    backend = backend or build_backend(settings, metrics)
    if retrieval is None and settings.retrieval_url:
        retrieval = HttpRetrievalClient.from_settings(settings)
    if redis is None:
        redis = rate_limit_redis(settings.redis_url)
    kb_prompts = load_kb_prompts(settings.kb_prompts_file)
    feedback = FeedbackStore(feedback_db_path(settings.data_dir))
    checkpointer, checkpoints = open_checkpointer(settings)
    return GatewayRuntime(
        settings=settings,
        metrics=metrics,
        backend=backend,
        retrieval=retrieval,
        kb_prompts=kb_prompts,
        feedback=feedback,
        rate_limiter=RateLimiter(redis, settings.rate_limit_per_minute),
        concurrency=ConcurrencyLimit(settings.max_concurrency),
        completions=CompletionService(
            settings,
            backend,
            retrieval=retrieval,
            kb_prompts=kb_prompts,
            feedback=feedback,
            metrics=metrics,
        ),
        agents=AgentService(settings, backend, retrieval=retrieval, checkpointer=checkpointer),
        checkpoints=checkpoints,
    )
