"""What the engine is asked to generate, and the events it answers with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens; temperature 0 means greedy."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Checked here, when a request is made, so a bad one fails alone, never in a batch.
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def generator_seed(self) -> int | None:
        """The seed as a 64-bit generator takes it (any integer maps to one, the same each time)."""
        return None if self.seed is None else self.seed % 2**64


@dataclass(frozen=True)
class TextDelta:
    """New answer text (never contains a stop sequence)."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The end of a generation, with its token counts."""

    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | Finished
