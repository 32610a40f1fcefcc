"""Several LoRA adapters on one small random Llama: switching, the bare base, LRU eviction,
through PEFT's side branches (`AdapterCache`) and merged into the base (`MergedAdapters`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shared.contracts.errors import InvalidRequestError
from shared.models.generation.adapters import AdapterCache
from shared.models.generation.merged_adapters import MergedAdapters
from tests.unit.gateway.fakes import micro_llama, publish_random_adapter


def _base():
    return micro_llama()


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    for seed, name in enumerate(("acme-a", "acme-b")):
        publish_random_adapter(tmp_path, name, seed)
    return tmp_path


IDS = torch.tensor([[1, 5, 9, 13, 2]])


def _logits(cache: AdapterCache | MergedAdapters, name: str | None) -> torch.Tensor:
    with cache.use(name) as model, torch.no_grad():
        return model(input_ids=IDS).logits[0, -1]


def test_adapters_share_the_base_and_the_least_recently_used_is_dropped(models_dir: Path):
    base = _base()
    plain = base(input_ids=IDS).logits[0, -1].detach()
    cache = AdapterCache(base, models_dir, capacity=1)
    assert torch.allclose(_logits(cache, None), plain)
    a = _logits(cache, "acme-a")
    b = _logits(cache, "acme-b")
    assert not torch.allclose(a, plain)
    assert not torch.allclose(a, b)
    assert cache.loaded == ["acme-b"]  # capacity 1: acme-a was unloaded
    assert torch.allclose(_logits(cache, None), plain)  # the bare base, adapters off
    assert torch.allclose(_logits(cache, "acme-a"), a)  # reloaded, same weights
    assert cache.loaded == ["acme-a"]


def test_two_adapters_fit_in_a_cache_of_two(models_dir: Path):
    cache = AdapterCache(_base(), models_dir, capacity=2)
    _logits(cache, "acme-a")
    _logits(cache, "acme-b")
    _logits(cache, "acme-a")
    assert cache.loaded == ["acme-b", "acme-a"]


def test_a_merged_adapter_computes_what_peft_computes(models_dir: Path):
    side_branches = AdapterCache(_base(), models_dir, capacity=2)
    merged = MergedAdapters(_base(), models_dir, capacity=2)
    for name in ("acme-a", "acme-b", "acme-a", None):
        expected = _logits(side_branches, name)
        assert torch.allclose(_logits(merged, name), expected, atol=1e-5), name


def test_switching_merged_adapters_returns_the_base_weights_exactly(models_dir: Path):
    base = _base()
    plain = base(input_ids=IDS).logits[0, -1].detach()
    weights = {name: w.detach().clone() for name, w in base.state_dict().items()}
    merged = MergedAdapters(base, models_dir, capacity=1)
    first_a = _logits(merged, "acme-a")
    assert not torch.allclose(first_a, plain)
    _logits(merged, "acme-b")
    assert merged.loaded == ["acme-b"]  # capacity 1: acme-a's factors were dropped
    assert torch.equal(_logits(merged, "acme-a"), first_a)  # no rounding piled up on a -> b -> a
    assert torch.equal(_logits(merged, None), plain)
    assert all(torch.equal(w, weights[name]) for name, w in base.state_dict().items())


def test_an_adapter_that_cannot_be_merged_is_refused_with_what_to_do(tmp_path: Path):
    from peft import LoraConfig

    dora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], use_dora=True)
    publish_random_adapter(tmp_path, "acme-dora", seed=0, config=dora)
    base = _base()
    plain = base(input_ids=IDS).logits[0, -1].detach()
    merged = MergedAdapters(base, tmp_path, capacity=2)
    with pytest.raises(InvalidRequestError, match="FINERAG_MERGE_ADAPTERS=false"):
        _logits(merged, "acme-dora")
    assert merged.loaded == []
    assert torch.equal(_logits(merged, None), plain)
