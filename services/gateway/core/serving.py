"""Chat and text completions: budgeting, RAG, generation, usage, and recording for feedback.

The API layer turns a validated request into a `CompletionRequest`, calls `prepare()`, and
then either `collect()`s the whole answer or iterates `stream()`. Nothing here knows HTTP.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from services.gateway.core.catalog import resolve_alias
from services.gateway.core.context_budget import fit_sources
from services.gateway.core.feedback_store import FeedbackStore
from services.gateway.core.generation import Backend, GenerationRequest
from services.gateway.core.kb_prompts import KnowledgeBasePrompts
from services.gateway.core.metrics import GatewayMetrics
from services.gateway.core.rag import Citation, RagOptions, build_grounded_prompt
from shared.contracts.prompts import Message
from shared.infrastructure.retrieval_client import RetrievalClient
from shared.infrastructure.settings import Settings
from shared.models.generation.events import (
    Finished,
    FinishReason,
    GenerationEvent,
    SamplingParams,
    TextDelta,
)

Kind = Literal["chat", "text"]


@dataclass(frozen=True)
class CompletionRequest:
    """A validated chat (`messages`) or text (`prompt`) completion request."""

    kind: Kind
    model: str
    max_tokens: int | None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    messages: list[Message] | None = None
    prompt: str | None = None
    rag: RagOptions | None = None
    stream: bool = False  # the client reads the answer as it is generated


@dataclass(frozen=True)
class Usage:
    """Token counts of one completion."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion."""
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Completion:
    """A finished answer."""

    id: str
    created: int
    model: str
    text: str
    finish_reason: FinishReason
    usage: Usage
    citations: list[Citation]


@dataclass
class PreparedCompletion:
    """A request whose prompt is built and whose generation is queued."""

    id: str
    created: int
    model: str
    kind: Kind
    messages: list[Message] | None
    prompt: str | None
    citations: list[Citation]
    events: Iterator[GenerationEvent]
    started: float = field(default_factory=time.monotonic)


class CompletionService:
    """The serving core of /v1/chat/completions and /v1/completions."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        *,
        retrieval: RetrievalClient | None,
        kb_prompts: KnowledgeBasePrompts,
        feedback: FeedbackStore,
        metrics: GatewayMetrics,
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._retrieval = retrieval
        self._kb_prompts = kb_prompts
        self._feedback = feedback
        self._metrics = metrics

    def prepare(self, request: CompletionRequest) -> PreparedCompletion:
        """Check the model, build and budget the prompt, queue generation.

        Raises:
            NotFoundError: unknown model.
            InvalidRequestError: the messages and max_tokens do not fit the context.
            ServiceUnavailableError: RAG requested without retrieval, or the model is down.
        """
        model = resolve_alias(self._settings, request.model)
        self._backend.check_model(model)
        max_tokens = request.max_tokens or self._settings.default_max_tokens
        messages, citations = self._fitted_messages(request, max_tokens)
        params = SamplingParams(
            max_tokens=max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            stop=request.stop,
        )
        deadline = time.monotonic() + self._settings.request_timeout_s
        events = self._backend.generate(
            GenerationRequest(
                model,
                params,
                messages=messages,
                prompt=request.prompt,
                deadline=deadline,
                stream=request.stream,
            )
        )
        prefix = "chatcmpl" if request.kind == "chat" else "cmpl"
        return PreparedCompletion(
            id=f"{prefix}-{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
            model=model,
            kind=request.kind,
            messages=messages,
            prompt=request.prompt,
            citations=citations,
            events=events,
        )

    def _fitted_messages(
        self, request: CompletionRequest, max_tokens: int
    ) -> tuple[list[Message] | None, list[Citation]]:
        """The chat messages to generate from (grounded with RAG) and their citations, checked
        to fit the context with `max_tokens` of answer; a raw prompt's request has none."""
        if request.kind != "chat" or request.messages is None:
            return request.messages, []
        messages = request.messages
        window = self._backend.context_window()
        if request.rag is None:
            fit_sources(
                [],
                lambda _none: self._backend.count_prompt_tokens(messages),
                max_tokens=max_tokens,
                context_window=window,
            )
            return messages, []
        grounded = build_grounded_prompt(
            messages,
            request.rag,
            retrieval=self._retrieval,
            kb_prompts=self._kb_prompts,
            count_tokens=self._backend.count_prompt_tokens,
            max_tokens=max_tokens,
            context_window=window,
        )
        return grounded.messages, grounded.citations

    def stream(self, prepared: PreparedCompletion) -> Iterator[TextDelta | Finished]:
        """The answer as it is generated; closing this early stops generation."""
        text: list[str] = []
        first = True
        try:
            for event in prepared.events:
                if isinstance(event, TextDelta):
                    if first:
                        self._metrics.time_to_first_token.observe(
                            time.monotonic() - prepared.started
                        )
                        first = False
                    text.append(event.text)
                else:
                    self._finish(prepared, "".join(text), event)
                yield event
        finally:
            close = getattr(prepared.events, "close", None)
            if close is not None:
                close()

    def collect(self, prepared: PreparedCompletion) -> Completion:
        """Wait for the whole answer."""
        parts: list[str] = []
        finished: Finished | None = None
        for event in self.stream(prepared):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                finished = event
        assert finished is not None, "a generation always ends with Finished"
        return Completion(
            id=prepared.id,
            created=prepared.created,
            model=prepared.model,
            text="".join(parts),
            finish_reason=finished.reason,
            usage=Usage(finished.prompt_tokens, finished.completion_tokens),
            citations=prepared.citations,
        )

    def _finish(self, prepared: PreparedCompletion, text: str, finished: Finished) -> None:
        self._metrics.prompt_tokens.inc(finished.prompt_tokens)
        self._metrics.completion_tokens.inc(finished.completion_tokens)
        self._feedback.record_completion(
            prepared.id,
            model=prepared.model,
            messages=prepared.messages,
            prompt=prepared.prompt,
            answer=text,
            citations=[c.to_dict() for c in prepared.citations],
        )
