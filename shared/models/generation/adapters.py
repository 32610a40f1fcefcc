"""Fine-tuned adapters on one shared base: PEFT's multi-adapter API with a bounded LRU.

The base weights are loaded once. The first fine-tuned model wraps them in a `PeftModel`;
later ones are added with `load_adapter` and switched with `set_adapter`. When more than
`capacity` adapters are loaded the least recently used one is deleted. Only the batch worker
thread calls this, so switching adapters never races a forward pass.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.infrastructure.registry import model_dir, read_card

log = logging.getLogger("finerag.generation.adapters")


def adapter_key(name: str, created: str) -> str:
    """PEFT's name for a registry entry: module-safe, and new when the entry is republished."""
    return "a" + hashlib.sha256(f"{name}\0{created}".encode()).hexdigest()[:16]


class AdapterCache:
    """The base model and up to `capacity` LoRA adapters attached to it."""

    def __init__(self, base: Any, models_dir: Path, capacity: int) -> None:
        self._base = base
        self._models_dir = models_dir
        self._capacity = capacity
        self._peft: Any = None
        self._loaded: OrderedDict[str, str] = OrderedDict()  # PEFT key -> registry name

    @property
    def loaded(self) -> list[str]:
        """Registry names of the adapters in memory, least recently used first."""
        return list(self._loaded.values())

    @contextmanager
    def use(self, name: str | None) -> Iterator[Any]:
        """The model to run: the bare base (`name` None) or the base with adapter `name`."""
        if name is None:
            if self._peft is None:
                yield self._base
            else:
                with self._peft.disable_adapter():
                    yield self._peft
            return
        yield self._activate(name)

    def _activate(self, name: str) -> Any:
        from peft import PeftModel

        card = read_card(self._models_dir, name)
        key = adapter_key(name, card.created)
        if key in self._loaded:
            self._loaded.move_to_end(key)
        else:
            path = str(model_dir(self._models_dir, name))
            log.info("loading adapter", extra={"model": name})
            if self._peft is None:
                self._peft = PeftModel.from_pretrained(self._base, path, adapter_name=key)
            else:
                self._peft.load_adapter(path, adapter_name=key)
            self._peft.eval()
            self._loaded[key] = name
        self._peft.set_adapter(key)
        while len(self._loaded) > self._capacity:
            oldest, oldest_name = next(iter(self._loaded.items()))
            self._peft.delete_adapter(oldest)
            del self._loaded[oldest]
            log.info("unloaded adapter", extra={"model": oldest_name})
        return self._peft
