"""What a backend is asked to generate (the events it answers with are the engine's:
`shared.models.generation.events`), and the models it serves."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.contracts.prompts import Message
from shared.models.generation.events import GenerationEvent, SamplingParams


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: chat `messages` (rendered with the chat template) or a raw `prompt`."""

    model: str
    params: SamplingParams
    messages: Sequence[Message] | None = None
    prompt: str | None = None
    deadline: float | None = None  # time.monotonic() after which generation stops
    stream: bool = True  # False: the text comes whole at the end (no event per token)


@dataclass
class ModelInfo:
    """A model the gateway serves: the base, or a fine-tuned adapter on it."""

    id: str
    created: int = 0
    parent: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


class Backend(Protocol):
    """Where tokens come from: this process (`local`) or an OpenAI-compatible upstream."""

    def list_models(self) -> list[ModelInfo]:
        """The base model first, then every fine-tuned model."""
        ...

    def check_model(self, model: str) -> None:
        """Raise NotFoundError when `model` is not served."""
        ...

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the chat template makes of `messages` (for context budgeting)."""
        ...

    def context_window(self) -> int:
        """Tokens of prompt plus answer the model accepts."""
        ...

    def generate(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        """Stream the answer; closing the iterator stops generation (client gone)."""
        ...

    def check_ready(self) -> None:
        """Raise ServiceUnavailableError unless a one-token generation works."""
        ...

    def close(self) -> None:
        """Release the model or the connection pool."""
        ...
