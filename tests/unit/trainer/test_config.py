"""The recipe config: validated whole, before any model loads, with messages that say the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.trainer.config import CONFIGS_DIR, RecipeConfig, load_config, parse_overrides
from services.trainer.memory import estimate_memory, lora_parameter_count
from shared.contracts.errors import InvalidRequestError
from shared.contracts.schemas import RENAMED_RECIPE_KEYS, TrainingOverrides


def _dataset(tmp_path: Path) -> Path:
    (tmp_path / "train.jsonl").write_text('{"messages": []}\n')
    return tmp_path


def test_every_config_opens_with_the_command_that_runs_it():
    for path in CONFIGS_DIR.glob("*.yaml"):
        assert path.read_text().splitlines()[1].lstrip("# ").startswith("finerag train"), path


def test_overrides_are_typed_as_yaml():
    overrides = ["max_steps=40", "packing=false", "lr_scheduler_type=linear", "x=2e-4"]
    assert parse_overrides(overrides) == {
        "max_steps": 40,
        "packing": False,
        "lr_scheduler_type": "linear",
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
    assert config.lora_target_modules == "all-linear"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"lora_r": 0}, "lora_r"),
        ({"learning_rate": 5}, "learning_rate"),
        ({"bf16": "fp16"}, "bf16"),
        ({"packing_strategy": "wrapped"}, "packing_strategy"),
        ({"warmup_steps": 2.5}, "warmup_steps"),
        ({"warmup_steps": -0.1}, "warmup_steps"),
        ({"name": "../escape"}, "name"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(tmp_path: Path, override: dict, message: str):
    base = {"base_model": "m", "dataset": str(tmp_path), "name": "acme"}
    with pytest.raises(InvalidRequestError, match=message):
        load_config(CONFIGS_DIR / "tiny_qlora.yaml", {**base, **override})


@pytest.mark.parametrize("old", sorted(RENAMED_RECIPE_KEYS))
def test_an_old_key_is_refused_with_its_new_name(tmp_path: Path, old: str):
    new = RENAMED_RECIPE_KEYS[old]
    base = {"base_model": "m", "dataset": str(tmp_path), "name": "acme"}
    with pytest.raises(InvalidRequestError, match=f"{old} was renamed {new}") as override:
        load_config(CONFIGS_DIR / "tiny_qlora.yaml", {**base, old: 1})
    assert override.value.param == old
    yaml_file = tmp_path / "old.yaml"
    yaml_file.write_text(f"base_model: m\ndataset: {tmp_path}\nname: acme\n{old}: 1\n")
    with pytest.raises(InvalidRequestError, match=f"old.yaml: {old} was renamed {new}"):
        load_config(yaml_file)


def test_old_names_that_changed_values_say_how():
    with pytest.raises(InvalidRequestError, match="precision=fp32 is bf16=false"):
        load_config(None, {"precision": "fp32"})
    with pytest.raises(InvalidRequestError, match="below 1 is a share of the steps"):
        load_config(None, {"warmup_ratio": 0.03})


def test_the_shipped_configs_set_every_knob():
    """Each YAML names every field but `output_dir` and `lora_layers` (defaulted by the run
    folder and 'every layer'): what changes a run is read in the file, not in the code."""
    optional = {"output_dir", "lora_layers"}
    for path in CONFIGS_DIR.glob("*.yaml"):
        keys = set(yaml.safe_load(path.read_text()))
        assert set(RecipeConfig.model_fields) - optional <= keys, path.name


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("gradient_checkpointing=on", True),  # YAML reads on/off as booleans
        ("gradient_checkpointing=false", False),
        ("gradient_checkpointing=auto", "auto"),
        ("bf16=true", True),
        ("warmup_steps=10", 10),
        ("warmup_steps=0.1", 0.1),
        ("report_to=[tensorboard,wandb]", ["tensorboard", "wandb"]),
        ("report_to=none", "none"),
    ],
)
def test_trl_values_are_read_as_trl_reads_them(tmp_path: Path, override: str, expected: object):
    key = override.partition("=")[0]
    base = {"base_model": "m", "dataset": str(tmp_path), "name": "acme"}
    config = load_config(CONFIGS_DIR / "tiny_qlora.yaml", {**base, **parse_overrides([override])})
    assert getattr(config, key) == expected


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


def test_every_knob_a_job_may_set_is_a_recipe_field_of_the_same_name():
    assert set(TrainingOverrides.model_fields) <= set(RecipeConfig.model_fields)
    assert not set(TrainingOverrides.model_fields) & set(RENAMED_RECIPE_KEYS)
