"""The `local` backend: the base model and its adapters in this process, batched generation."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from services.gateway.core.adapters import AdapterCache
from services.gateway.core.batching import BatchScheduler
from services.gateway.core.catalog import check_served, list_served_models
from services.gateway.core.decoding import GenerationJob, generate_batch
from services.gateway.core.generation import (
    Finished,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    SamplingParams,
)
from services.gateway.core.stop_text import StopText
from shared.errors import (
    FineRAGError,
    InvalidRequestError,
    ServiceUnavailableError,
)
from shared.modeling import end_token_ids
from shared.prompts import Message, render_prompt
from shared.settings import Settings

log = logging.getLogger("finerag.gateway.local")


class JobStream:
    """The events of one queued job; closing it (client gone) cancels the job."""

    def __init__(self, job: GenerationJob) -> None:
        self._job = job
        self._done = False

    def __iter__(self) -> Iterator[GenerationEvent]:
        return self

    def __next__(self) -> GenerationEvent:
        if self._done:
            raise StopIteration
        timeout = None
        if self._job.deadline is not None:
            timeout = max(0.0, self._job.deadline - time.monotonic()) + 1.0
        try:
            event = self._job.events.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise ServiceUnavailableError(
                "Generation did not finish within the request timeout.", code="request_timeout"
            ) from None
        if isinstance(event, FineRAGError):
            self.close()
            raise event
        if isinstance(event, Finished):
            self._done = True
        return event

    def close(self) -> None:
        """Stop generating for this request."""
        self._done = True
        self._job.cancel()


class LocalBackend:
    """transformers + PEFT: one base model, adapters from the registry, dynamic batching."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_queue_depth: Callable[[int], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        from shared.modeling import load_tokenizer

        self._settings = settings
        self._on_queue_depth = on_queue_depth
        self._on_batch = on_batch
        self._tokenizer = load_tokenizer(settings.base_model)
        self._tokenizer_lock = threading.Lock()  # fast tokenizers are not thread-safe
        self._eos_ids = end_token_ids(self._tokenizer)
        self._pad_id = int(self._tokenizer.pad_token_id)
        self._loaded = threading.Event()
        self._load_error: BaseException | None = None
        self._adapters: AdapterCache | None = None
        self._scheduler: BatchScheduler[GenerationJob] | None = None
        self._context = settings.max_context_tokens or 0
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    # --- loading --------------------------------------------------------------------------
    def _load(self) -> None:
        from shared.modeling import load_base_model

        try:
            started = time.monotonic()
            model = load_base_model(
                self._settings.base_model, quantization=self._settings.serve_quantization
            )
            model.eval()
            if not self._context:
                self._context = int(getattr(model.config, "max_position_embeddings", 8192))
            self._adapters = AdapterCache(
                model, self._settings.models_dir, self._settings.adapter_cache_size
            )
            batching = self._settings.batching
            self._scheduler = BatchScheduler(
                self._run_batch,
                max_batch_size=self._settings.max_batch_size if batching else 1,
                wait_window_s=self._settings.batch_wait_ms / 1000 if batching else 0.0,
                on_queue_depth=self._on_queue_depth,
                on_batch=self._on_batch,
            )
            log.info(
                "model loaded",
                extra={"model": self._settings.base_model, "seconds": time.monotonic() - started},
            )
        except BaseException as exc:
            log.exception("loading the base model failed")
            self._load_error = exc
        finally:
            self._loaded.set()

    def _wait_loaded(self, timeout: float | None) -> tuple[AdapterCache, BatchScheduler[Any]]:
        if not self._loaded.wait(timeout):
            raise ServiceUnavailableError("The model is still loading.", code="model_loading")
        if self._adapters is None or self._scheduler is None:
            raise ServiceUnavailableError(
                f"The model failed to load: {self._load_error}", code="model_unavailable"
            )
        return self._adapters, self._scheduler

    # --- the Backend interface ------------------------------------------------------------
    def list_models(self) -> list[ModelInfo]:
        """The base under FINERAG_BASE_MODEL, then the registry's fine-tuned models."""
        return list_served_models(self._settings)

    def check_model(self, model: str) -> None:
        """NotFoundError unless `model` is the base or a registry entry."""
        check_served(self._settings, model)

    def encode(self, request: GenerationRequest) -> list[int]:
        """Token ids of the prompt exactly as the model will see it."""
        with self._tokenizer_lock:
            if request.messages is not None:
                text = render_prompt(self._tokenizer, request.messages)
                return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])
            return list(self._tokenizer(request.prompt or "")["input_ids"])

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of `messages` rendered with the chat template."""
        return len(self.encode(GenerationRequest("", SamplingParams(1), messages=messages)))

    def context_window(self) -> int:
        """FINERAG_MAX_CONTEXT_TOKENS, or the model's position limit."""
        self._wait_loaded(self._settings.request_timeout_s)
        return self._context

    def generate(self, request: GenerationRequest) -> JobStream:
        """Queue the request for the next batch of its model; iterate the result for events."""
        _, scheduler = self._wait_loaded(self._settings.request_timeout_s)
        prompt_ids = self.encode(request)
        if len(prompt_ids) + request.params.max_tokens > self._context:
            raise InvalidRequestError(
                f"The prompt has {len(prompt_ids)} tokens and max_tokens is "
                f"{request.params.max_tokens}: together over the model's context of "
                f"{self._context} tokens.",
                param="messages" if request.messages is not None else "prompt",
                code="context_length_exceeded",
            )
        job = GenerationJob(
            prompt_ids,
            request.params,
            StopText(self._decode, request.params.stop),
            request.deadline,
        )
        scheduler.submit(request.model, job)
        return JobStream(job)

    def check_ready(self) -> None:
        """A one-token greedy generation on the base model must work."""
        self._wait_loaded(0)
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
        if self._scheduler is not None:
            self._scheduler.close()

    # --- the batch worker -----------------------------------------------------------------
    def _decode(self, ids: Sequence[int]) -> str:
        with self._tokenizer_lock:
            return str(
                self._tokenizer.decode(
                    list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
                )
            )

    def _run_batch(self, model_name: str, jobs: list[GenerationJob]) -> None:
        assert self._adapters is not None
        adapter = None if model_name == self._settings.base_model else model_name
        error: FineRAGError | None = None
        try:
            with self._adapters.use(adapter) as model:
                # Never raises: a failed forward pass is reported to each job.
                generate_batch(model, jobs, pad_id=self._pad_id, eos_ids=self._eos_ids)
        except FineRAGError as exc:  # the adapter vanished from the registry
            error = exc
        except Exception:
            log.exception("loading adapter %s failed", model_name)
            error = ServiceUnavailableError(f"Loading the model {model_name!r} failed.")
        if error is not None:
            for job in jobs:
                job.events.put(error)
