"""The `local` backend: the base model and its adapters in this process, through the engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from services.gateway.core.catalog import check_served, list_served_models
from services.gateway.core.generation import GenerationRequest, ModelInfo
from shared.contracts.errors import InvalidRequestError
from shared.contracts.prompts import Message
from shared.infrastructure.settings import Settings
from shared.models.generation.engine import Engine, JobStream, Submission
from shared.models.generation.events import SamplingParams


class LocalBackend:
    """transformers + PEFT: one base model, adapters from the registry, dynamic batching."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_queue_depth: Callable[[int], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._settings = settings
        batching = settings.batching
        self.engine = Engine(
            settings.base_model,
            models_dir=settings.models_dir,
            quantization=settings.serve_quantization,
            max_batch_size=settings.max_batch_size if batching else 1,
            wait_window_s=settings.batch_wait_ms / 1000 if batching else 0.0,
            adapter_cache_size=settings.adapter_cache_size,
            merge_adapters=settings.merge_adapters,
            mixed_batches=settings.mixed_batches,
            background=True,
            on_queue_depth=on_queue_depth,
            on_batch=on_batch,
        )

    # --- the Backend interface ------------------------------------------------------------
    def list_models(self) -> list[ModelInfo]:
        """The base under FINERAG_BASE_MODEL, then the registry's fine-tuned models."""
        return list_served_models(self._settings)

    def check_model(self, model: str) -> None:
        """NotFoundError unless `model` is the base or a registry entry."""
        check_served(self._settings, model)

    def encode(self, request: GenerationRequest) -> list[int]:
        """Token ids of the prompt exactly as the model will see it."""
        if request.messages is not None:
            return self.engine.encode_messages(request.messages)
        return self.engine.encode_text(request.prompt or "")

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of `messages` rendered with the chat template."""
        return len(self.engine.encode_messages(messages))

    def context_window(self) -> int:
        """FINERAG_MAX_CONTEXT_TOKENS, or the model's position limit."""
        if self._settings.max_context_tokens:
            return self._settings.max_context_tokens
        self.engine.wait_loaded(self._settings.request_timeout_s)
        return self.engine.context_window

    def generate(self, request: GenerationRequest) -> JobStream:
        """Queue the request for the next batch of its model; iterate the result for events."""
        self.engine.wait_loaded(self._settings.request_timeout_s)
        prompt_ids = self.encode(request)
        context = self.context_window()
        if len(prompt_ids) + request.params.max_tokens > context:
            raise InvalidRequestError(
                f"The prompt has {len(prompt_ids)} tokens and max_tokens is "
                f"{request.params.max_tokens}: together over the model's context of "
                f"{context} tokens.",
                param="messages" if request.messages is not None else "prompt",
                code="context_length_exceeded",
            )
        (stream,) = self.engine.submit(
            Submission(request.model, prompt_ids, request.params, request.deadline, request.stream)
        )
        return stream

    def check_ready(self) -> None:
        """A one-token greedy generation on the base model must work."""
        self.engine.wait_loaded(0)
        deadline = time.monotonic() + 30
        request = GenerationRequest(
            self._settings.base_model,
            SamplingParams(1, temperature=0),
            prompt="ok",
            deadline=deadline,
        )
        for _event in self.generate(request):
            pass

    def close(self) -> None:
        """Stop the batch worker."""
        self.engine.close()
