"""Fine-tuned adapters merged into the base's own weights, one adapter at a time.

PEFT runs a LoRA adapter as side branches beside every targeted linear layer: two more matrix
products, a scale and casts per layer, in float32 (PEFT keeps adapter weights in float32). On
SmolLM2-135M in bf16 that made a fine-tuned model's prefill about twice as slow as the bare
base's (`benchmarks/adapter_merging.py` measures it). Here the batch worker merges the adapter
a batch needs into the base weights instead, `W = W0 + scale * B @ A` as PEFT's own merge
computes it, so a fine-tuned model's batch runs exactly as fast as the base's.

The original weights of every layer an adapter touched are kept aside and copied back before
the next adapter is merged (or the bare base runs), so switching never accumulates rounding.
Switching costs one pass over the targeted weights; only the batch worker switches, between
batches. What can be merged: a base that is not quantized (a 4-bit weight cannot take a delta)
and a plain LoRA adapter on linear layers, which is what the trainer publishes. Anything else is
refused with what to do instead (serve with `merge_adapters=false`: PEFT's side branches).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shared.contracts.errors import InvalidRequestError
from shared.infrastructure.registry import model_dir, read_card
from shared.models.generation.adapters import adapter_key
from shared.models.generation.row_adapters import RowAdapter, RowAdapters, row_adapters

log = logging.getLogger("finerag.generation.merged_adapters")

_PREFIX = "base_model.model."  # PEFT's prefix of every saved adapter key
_PARTLY = "(switching)"  # weights between two adapters, never an adapter's key
_UNMERGEABLE = ("use_dora", "modules_to_save", "alpha_pattern", "layer_replication", "lora_bias")


@dataclass(frozen=True)
class LoraFactors:
    """One targeted layer of an adapter: its down (A) and up (B) matrices and its scale."""

    down: torch.Tensor  # r x in
    up: torch.Tensor  # out x r
    scale: float

    def delta(self, dtype: torch.dtype) -> torch.Tensor:
        """The layer's weight change, computed in float32 and rounded once, as PEFT merges."""
        return ((self.up.float() @ self.down.float()) * self.scale).to(dtype)


def read_lora(path: Path, device: Any) -> dict[str, LoraFactors]:
    """The factors of the LoRA adapter saved at `path`, by the base's module names;
    InvalidRequestError for an adapter that cannot be merged."""
    from peft import LoraConfig
    from peft.utils import load_peft_weights

    config = LoraConfig.from_pretrained(str(path))
    refused = [field for field in _UNMERGEABLE if getattr(config, field, None)]
    if config.bias != "none" or config.fan_in_fan_out:
        refused.append("bias" if config.bias != "none" else "fan_in_fan_out")
    weights = load_peft_weights(str(path), device=str(device))
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in weights.items():
        module, _, part = key.removeprefix(_PREFIX).rpartition(".lora_")
        if part not in ("A.weight", "B.weight") or tensor.dim() != 2:
            refused.append(key)
            continue
        pairs.setdefault(module, {})[part[0]] = tensor
    if refused or not pairs:
        raise InvalidRequestError(
            f"The adapter at {path} cannot be merged into the base "
            f"({', '.join(refused[:3]) or 'no LoRA weights'}); "
            "serve it unmerged (FINERAG_MERGE_ADAPTERS=false).",
            param="model",
        )
    factors = {}
    for module, pair in pairs.items():
        rank = pair["A"].shape[0]
        scale = config.lora_alpha / (math.sqrt(rank) if config.use_rslora else rank)
        factors[module] = LoraFactors(down=pair["A"], up=pair["B"], scale=scale)
    return factors


class MergedAdapters:
    """The base model with at most one adapter merged in, and the factors of up to `capacity`
    adapters kept in memory (least recently used dropped first). Same interface as
    `adapters.AdapterCache`, and batches of several models (`rows`, `row_adapter`)."""

    def __init__(self, base: Any, models_dir: Path, capacity: int) -> None:
        self._base = base
        self._models_dir = models_dir
        self._capacity = capacity
        self._modules = dict(base.named_modules())
        self._factors: OrderedDict[str, tuple[str, dict[str, LoraFactors]]] = OrderedDict()
        self._original: dict[str, torch.Tensor] = {}  # weights as loaded, of touched layers
        self._merged: str | None = None  # key of the adapter in the weights now
        self._row_forms: dict[str, RowAdapter] = {}  # by key, of adapters in `_factors`

    @property
    def loaded(self) -> list[str]:
        """Registry names of the adapters in memory, least recently used first."""
        return [name for name, _ in self._factors.values()]

    @contextmanager
    def use(self, name: str | None) -> Iterator[Any]:
        """The base model with adapter `name` merged in (none merged for `name` None)."""
        if name is None:
            self._merge(None, {})
        else:
            key, factors = self._load(name)
            self._merge(key, factors)
        yield self._base

    @contextmanager
    def rows(self) -> Iterator[tuple[Any, RowAdapters]]:
        """The bare base, and hooks on it that run each row's adapter (`row_adapter`) beside
        its layers: a batch of several models. The hooks come off when it ends."""
        self._merge(None, {})
        with row_adapters(self._modules) as adapters:
            yield self._base, adapters

    def row_adapter(self, name: str) -> RowAdapter:
        """Adapter `name` as a row of a batch of several models runs it."""
        key, factors = self._load(name)
        if key not in self._row_forms:
            self._row_forms[key] = RowAdapter.of(key, factors, self._modules)
        return self._row_forms[key]

    def _load(self, name: str) -> tuple[str, dict[str, LoraFactors]]:
        card = read_card(self._models_dir, name)
        key = adapter_key(name, card.created)
        if key not in self._factors:
            log.info("loading adapter", extra={"model": name})
            factors = read_lora(model_dir(self._models_dir, name), self._base.device)
            unfit = [m for m, layer in factors.items() if not self._fits(m, layer)]
            if unfit:
                raise InvalidRequestError(
                    f"The adapter {name!r} does not fit this base model's layers: {unfit[:3]}",
                    param="model",
                )
            self._factors[key] = (name, factors)
            while len(self._factors) > self._capacity:
                gone, (dropped, _) = self._factors.popitem(last=False)
                self._row_forms.pop(gone, None)
                log.info("unloaded adapter", extra={"model": dropped})
        self._factors.move_to_end(key)
        return key, self._factors[key][1]

    def _fits(self, module: str, layer: LoraFactors) -> bool:
        weight = getattr(self._modules.get(module), "weight", None)
        shape = (layer.up.shape[0], layer.down.shape[1])
        return isinstance(weight, torch.Tensor) and tuple(weight.shape) == shape

    @torch.no_grad()
    def _merge(self, key: str | None, factors: dict[str, LoraFactors]) -> None:
        if key == self._merged:
            return
        if self._merged is not None:  # back to the weights as loaded
            self._merged = _PARTLY
            for module, original in self._original.items():
                self._modules[module].weight.copy_(original)
            self._merged = None
        if key is None:
            return
        self._merged = _PARTLY  # until every delta is in: an error here leaves it to restore
        for module, layer in factors.items():
            weight = self._modules[module].weight
            if module not in self._original:
                self._original[module] = weight.detach().clone()
            weight.add_(layer.delta(weight.dtype))
        self._merged = key
