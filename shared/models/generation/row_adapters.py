"""Several fine-tuned models in one batch: each row's LoRA adapter beside the base's layers.

Merging (`merged_adapters`) runs one adapter at a time at the base's own speed, so requests for
another model wait until the running batch drains. When requests for several models wait at
once (an evaluation asks the base and the fine-tuned model the same questions; a gateway serves
several fine-tuned models), one batch takes them all: the base weights stay as loaded, and a
forward hook on each layer an adapter targets adds `scale * B @ (A @ x)` to that adapter's rows
only (the batching of S-LoRA and Punica, in the model's own precision). Rows of the bare base
get nothing added. A batch's rows are prefilled grouped by model, so an adapter's rows are a
slice of the activations (a view) rather than gathered and scattered back.

An adapter that trains only the upper layers leaves the lower ones as the base computes them,
so a base row and a fine-tuned row with the same prompt see the same keys, values and hidden
states up to the first adapted layer (`RowAdapter.first_layer`); `prefill` computes that stem
once for both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


class Factors(Protocol):
    """One targeted layer of a LoRA adapter (`merged_adapters.LoraFactors`)."""

    @property
    def down(self) -> torch.Tensor: ...  # r x in
    @property
    def up(self) -> torch.Tensor: ...  # out x r
    @property
    def scale(self) -> float: ...


@dataclass(frozen=True)
class RowAdapter:
    """One adapter ready to run beside the base: per targeted module the down matrix
    (in x r) and the scaled up matrix (r x out), in the layer's precision."""

    key: str
    layers: Mapping[str, tuple[torch.Tensor, torch.Tensor]]
    first_layer: int  # the lowest decoder layer it changes

    @classmethod
    def of(
        cls, key: str, factors: Mapping[str, Factors], modules: Mapping[str, torch.nn.Module]
    ) -> RowAdapter:
        """The adapter `key` with `factors`, cast to the precision of `modules`' weights."""
        layers = {}
        for name, factor in factors.items():
            weight = modules[name].weight
            dtype = weight.dtype if isinstance(weight, torch.Tensor) else torch.float32
            up = (factor.up.float() * factor.scale).to(dtype)
            layers[name] = (factor.down.to(dtype).t().contiguous(), up.t().contiguous())
        return cls(key, layers, first_layer=min(_layer_index(name) for name in factors))


def _layer_index(module: str) -> int:
    """The decoder layer `module` belongs to: 0 for one outside the layers but the LM head
    (nothing below it can be shared), a large number for the LM head (after every layer)."""
    found = _LAYER.search(module)
    if found:
        return int(found.group(1))
    return 1 << 20 if module.split(".")[-1] == "lm_head" else 0


# Per targeted module: (rows, down, up) for each adapter in the batch. Rows that sit together
# are a slice (a view: no copy of their activations), others an index tensor.
_Rows = slice | torch.Tensor
_Plan = dict[str, list[tuple[_Rows, torch.Tensor, torch.Tensor]]]


class RowAdapters:
    """Hooks on the base's modules that apply each row's adapter; `assign` says which row has
    which before a forward pass. Only the batch worker uses it, between forward passes."""

    def __init__(self, modules: Mapping[str, torch.nn.Module]) -> None:
        self._modules = modules
        self._plan: _Plan = {}
        self._assigned: tuple[str | None, ...] = ()
        self._hooks: dict[str, Any] = {}

    def assign(self, rows: Sequence[RowAdapter | None]) -> None:
        """Row i of the next forward passes runs `rows[i]` (None: the bare base)."""
        keys = tuple(None if row is None else row.key for row in rows)
        if keys == self._assigned:
            return
        groups: dict[str, list[int]] = {}
        adapters: dict[str, RowAdapter] = {}
        for index, row in enumerate(rows):
            if row is not None:
                groups.setdefault(row.key, []).append(index)
                adapters[row.key] = row
        plan: _Plan = {}
        for key, indices in groups.items():
            layers = adapters[key].layers
            device = next(iter(layers.values()))[0].device
            together = indices[-1] - indices[0] + 1 == len(indices)
            rows_of: _Rows = (
                slice(indices[0], indices[-1] + 1)
                if together
                else torch.tensor(indices, device=device)
            )
            for module, (down, up) in layers.items():
                plan.setdefault(module, []).append((rows_of, down, up))
                if module not in self._hooks:
                    self._hooks[module] = self._modules[module].register_forward_hook(
                        self._hook(module)
                    )
        self._plan, self._assigned = plan, keys

    def remove(self) -> None:
        """Take every hook off the base (it computes the bare base again)."""
        for handle in self._hooks.values():
            handle.remove()
        self._hooks.clear()
        self._plan, self._assigned = {}, ()

    def _hook(self, module: str) -> Any:
        def add_deltas(_layer: Any, args: tuple[Any, ...], output: torch.Tensor) -> None:
            x = args[0]
            for rows, down, up in self._plan.get(module, ()):
                if isinstance(rows, slice):
                    output[rows].add_((x[rows] @ down) @ up)
                else:
                    output.index_add_(0, rows, (x.index_select(0, rows) @ down) @ up)

        return add_deltas


@dataclass(frozen=True)
class RowModels:
    """The model each row of a batch runs: row i runs adapter `rows[i]` (None: the bare
    base) through `adapters`."""

    adapters: RowAdapters
    rows: Sequence[RowAdapter | None]

    def assign(self, picks: Sequence[int] | None = None) -> None:
        """The next forward pass's row j runs the model of row `picks[j]` (default: each row
        its own)."""
        rows = self.rows if picks is None else [self.rows[i] for i in picks]
        self.adapters.assign(rows)

    def first_layer(self) -> int | None:
        """The lowest layer any row's adapter changes; None when no row has one."""
        return min((row.first_layer for row in self.rows if row is not None), default=None)

    def keys(self) -> list[str | None]:
        """Each row's adapter key (None: the bare base): rows with one key run one model."""
        return [None if row is None else row.key for row in self.rows]


@contextmanager
def row_adapters(modules: Mapping[str, torch.nn.Module]) -> Iterator[RowAdapters]:
    """Row adapters on `modules` for one batch; the hooks come off when it ends."""
    adapters = RowAdapters(modules)
    try:
        yield adapters
    finally:
        adapters.remove()
