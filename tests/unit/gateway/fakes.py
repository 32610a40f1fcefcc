"""Stand-ins for the gateway's unit tests: a scripted backend and an in-memory Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from services.gateway.core.generation import GenerationRequest, ModelInfo
from services.gateway.core.runtime import GatewayRuntime, build_runtime
from shared.contracts.errors import NotFoundError
from shared.contracts.prompts import Message
from shared.infrastructure.settings import Settings
from shared.models.generation.events import Finished, GenerationEvent, TextDelta


class ScriptedBackend:
    """Answers "echo: <last message>" one word per event; `gate` can hold generation."""

    def __init__(self, window: int = 4096) -> None:
        self.window = window
        self.requests: list[GenerationRequest] = []
        self.gate = threading.Event()
        self.gate.set()
        self.closed_streams = 0

    def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id="base"), ModelInfo(id="tuned", parent="base")]

    def check_model(self, model: str) -> None:
        if model not in ("base", "tuned"):
            raise NotFoundError(f"The model {model!r} does not exist.", param="model")

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def context_window(self) -> int:
        return self.window

    def generate(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        self.requests.append(request)
        text = request.messages[-1]["content"] if request.messages else request.prompt or ""
        words = f"echo: {text}".split(" ")[: request.params.max_tokens]

        def events() -> Iterator[GenerationEvent]:
            try:
                self.gate.wait(10)
                for i, word in enumerate(words):
                    yield TextDelta(word if i == 0 else " " + word)
                yield Finished("length", prompt_tokens=3, completion_tokens=len(words))
            finally:
                self.closed_streams += 1

        return events()

    def check_ready(self) -> None:
        return None

    def close(self) -> None:
        return None


class MemoryRedis:
    """The rate limiter's Redis: its sliding-window script, kept in memory."""

    def __init__(self) -> None:
        self.windows: dict[str, list[float]] = {}

    def register_script(self, _source: str) -> Any:
        def sliding_window(*, keys: list[str], args: list[Any]) -> list[Any]:
            now, window, limit = float(args[0]), float(args[1]), int(args[2])
            kept = [t for t in self.windows.get(keys[0], []) if t > now - window]
            self.windows[keys[0]] = kept
            if len(kept) >= limit:
                return [0, str(min(kept))]
            kept.append(now)
            return [1, "0"]

        return sliding_window


def fake_runtime(
    tmp_path: Path, backend: ScriptedBackend, retrieval: Any = None, **settings: Any
) -> GatewayRuntime:
    """A runtime with the scripted backend and in-memory Redis."""
    config = Settings(_env_file=None, data_dir=tmp_path, **settings)
    return build_runtime(config, backend=backend, retrieval=retrieval, redis=MemoryRedis())


def micro_llama(**config: object) -> Any:
    """A seeded two-layer random Llama (64 tokens, 32 wide) for decoding and adapter tests."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    shape: dict[str, object] = {
        "vocab_size": 64,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
    }
    return LlamaForCausalLM(LlamaConfig(**{**shape, **config})).eval()


def publish_random_adapter(
    models_dir: Path, name: str, seed: int, config: object = None, base: Any = None
) -> None:
    """A LoRA adapter on `base` (default `micro_llama`) with seeded random up matrices (so it
    changes the model's answers), published in the registry at `models_dir` as `name`."""
    from peft import get_peft_model

    from shared.infrastructure.registry import ModelCard, write_card
    from shared.models.loading import lora_config

    model = get_peft_model(base or micro_llama(), config or lora_config(r=4, alpha=8))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            if "lora_B" in param_name:
                param.copy_(torch.randn(param.shape, generator=generator))
    folder = models_dir / name
    model.save_pretrained(folder)
    write_card(folder, ModelCard(name=name, base_model="tiny-random"))
