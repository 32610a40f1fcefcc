"""The recipe config: validated whole, before any model loads, with messages that say the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.trainer.config import CONFIGS_DIR, load_config, parse_overrides
from services.trainer.memory import estimate_memory, lora_parameter_count
from shared.errors import InvalidRequestError


def _dataset(tmp_path: Path) -> Path:
    (tmp_path / "train.jsonl").write_text('{"messages": []}\n')
    return tmp_path


def test_every_config_opens_with_the_command_that_runs_it():
    for path in CONFIGS_DIR.glob("*.yaml"):
        assert path.read_text().splitlines()[1].lstrip("# ").startswith("finerag train"), path


def test_overrides_are_typed_as_yaml():
    assert parse_overrides(["max_steps=40", "packing=false", "lr_scheduler=linear", "x=2e-4"]) == {
        "max_steps": 40,
        "packing": False,
        "lr_scheduler": "linear",
        "x": 2e-4,
    }
    with pytest.raises(InvalidRequestError, match="key=value"):
        parse_overrides(["max_steps"])


def test_tiny_config_loads_with_overrides(tmp_path: Path):
    config = load_config(
        CONFIGS_DIR / "tiny_qlora.yaml",
        {"base_model": "m", "dataset": str(tmp_path), "name": "acme", "max_steps": 40},
    )
    assert config.max_steps == 40
    assert config.quantization == "4bit"
    assert config.target_modules == "all-linear"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"lora_r": 0}, "lora_r"),
        ({"learning_rate": 5}, "learning_rate"),
        ({"precision": "fp16"}, "precision"),
        ({"name": "../escape"}, "name"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(tmp_path: Path, override: dict, message: str):
    base = {"base_model": "m", "dataset": str(tmp_path), "name": "acme"}
    with pytest.raises(InvalidRequestError, match=message):
        load_config(CONFIGS_DIR / "tiny_qlora.yaml", {**base, **override})


def test_missing_files_fail_before_loading(tmp_path: Path):
    config = load_config(None, {"base_model": str(tmp_path), "dataset": str(tmp_path), "name": "a"})
    with pytest.raises(InvalidRequestError, match="finerag dataset build"):
        config.check_files()
    _dataset(tmp_path)
    with pytest.raises(InvalidRequestError, match=r"config\.json"):
        config.check_files()


def _estimate_8b(**changes: object):
    from transformers import LlamaConfig

    llama = LlamaConfig(
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
    )
    options: dict = {
        "quantization": "4bit",
        "lora_r": 16,
        "batch_size": 2,
        "seq_len": 2048,
        "compute_bytes": 2,
        "gradient_checkpointing": True,
        "device": "cuda",
    }
    return llama, estimate_memory(llama, **{**options, **changes})


def test_llama_8b_estimate_matches_known_sizes():
    llama, qlora = _estimate_8b()
    assert lora_parameter_count(llama, 16) == 41_943_040  # PEFT's count for r=16, all-linear
    _, full = _estimate_8b(quantization="none")
    _, no_checkpointing = _estimate_8b(gradient_checkpointing=False)
    gib = 1 << 30
    assert 3.5 * gib < qlora.base_weights < 6 * gib  # 4-bit linear + bf16 embeddings
    assert 14 * gib < full.base_weights < 16 * gib  # 8B in bf16
    assert qlora.total < 16 * gib  # fits a 24 GB card with room
    assert no_checkpointing.activations > 10 * qlora.activations
