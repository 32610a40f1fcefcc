"""The recipe's SFTConfig: every TRL knob comes from the config under its own name, nothing that
changes a run is set in code alone, and the model card keeps the SFTConfig as resolved."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.trainer.config import CONFIGS_DIR, RecipeConfig, TrainingRefused, load_config
from services.trainer.job_runner import job_config_overrides
from services.trainer.recipe import QLoRARecipe
from services.trainer.training_args import (
    FIXED_TRAINING_ARGUMENTS,
    training_arguments,
    training_arguments_record,
)
from shared.infrastructure.settings import Settings
from shared.models.loading import DeviceProfile

CPU = DeviceProfile("cpu", bf16=False)
AMX_CPU = DeviceProfile("cpu", bf16=True)
GPU = DeviceProfile("cuda", bf16=False)  # a T4: transformers refuses bf16 without a GPU that has it

# A value for every config field that is an SFTConfig field, unlike both the YAML's and TRL's.
CHANGED: dict[str, Any] = {
    "max_length": 333,
    "packing": False,
    "packing_strategy": "bfd_split",
    "completion_only_loss": False,
    "per_device_train_batch_size": 3,
    "per_device_eval_batch_size": 5,
    "gradient_accumulation_steps": 7,
    "learning_rate": 3e-4,
    "lr_scheduler_type": "linear",
    "warmup_steps": 9,
    "weight_decay": 0.01,
    "max_grad_norm": 0.5,
    "num_train_epochs": 2.5,
    "max_steps": 11,
    "optim": "paged_adamw_8bit",
    "bf16": True,
    "gradient_checkpointing": True,
    "seed": 7,
    "data_seed": 8,
    "eval_steps": 13,
    "save_steps": 26,
    "save_total_limit": 4,
    "logging_steps": 2,
    "report_to": ["tensorboard", "wandb"],
}
# SFTConfig values the recipe derives from the device or the data, or transformers mirrors.
DERIVED = {
    "use_cpu",  # the device
    "gradient_checkpointing_kwargs",  # non-reentrant, with gradient_checkpointing on
    "activation_checkpointing",  # transformers 5's name, mirrored from gradient_checkpointing
    "activation_checkpointing_kwargs",
    "eval_strategy",  # "no" without a validation split
    "do_eval",  # transformers sets it with an eval_strategy
    "load_best_model_at_end",  # with early stopping
}


def _sft_fields() -> set[str]:
    from trl import SFTConfig

    return {field.name for field in dataclasses.fields(SFTConfig)}


def _config(tmp_path: Path, **changes: Any) -> RecipeConfig:
    base = {"base_model": "m", "dataset": str(tmp_path), "name": "acme"}
    return load_config(CONFIGS_DIR / "tiny_qlora.yaml", {**base, **changes})


def test_every_trl_knob_of_the_config_arrives_under_its_own_name(tmp_path: Path):
    shared = set(RecipeConfig.model_fields) & _sft_fields()
    assert set(CHANGED) == shared - {"output_dir"}
    args = training_arguments(
        _config(tmp_path, **CHANGED), tmp_path / "run", AMX_CPU, has_eval=True
    )
    for name, value in CHANGED.items():
        assert getattr(args, name) == value, name
    assert args.output_dir == str(tmp_path / "run")


@pytest.mark.parametrize(
    ("changes", "profile", "has_eval"),
    [
        ({}, CPU, True),
        ({}, GPU, False),
        (CHANGED, AMX_CPU, True),
        ({"early_stopping_patience": 2}, CPU, True),
    ],
)
def test_nothing_departs_from_trl_defaults_unless_the_config_says_so(
    tmp_path: Path, changes: dict, profile: DeviceProfile, has_eval: bool
):
    from trl import SFTConfig

    args = training_arguments(
        _config(tmp_path, **changes), tmp_path / "run", profile, has_eval=has_eval
    )
    # TRL's defaults on the same device (its default bf16=True is refused on a machine without
    # a GPU that has bf16; bf16 is a config field anyway).
    defaults = SFTConfig(output_dir=args.output_dir, use_cpu=args.use_cpu, bf16=False).to_dict()
    departed = {name for name, value in args.to_dict().items() if value != defaults[name]}
    unexplained = (
        departed - set(RecipeConfig.model_fields) - set(FIXED_TRAINING_ARGUMENTS) - DERIVED
    )
    assert not unexplained


def test_the_shipped_defaults_give_the_arguments_runs_had_before_the_renames(tmp_path: Path):
    """The values the recipe used to set in code (or map by hand) for the tiny config."""
    cpu = training_arguments(_config(tmp_path), tmp_path / "run", CPU, has_eval=True)
    expected = {
        "per_device_train_batch_size": 4, "per_device_eval_batch_size": 4,
        "gradient_accumulation_steps": 1, "learning_rate": 2e-3, "lr_scheduler_type": "cosine",
        "warmup_steps": 0.05, "num_train_epochs": 3.0, "max_steps": -1, "optim": "adamw_torch",
        "bf16": False, "fp16": False, "use_cpu": True, "gradient_checkpointing": False,
        "gradient_checkpointing_kwargs": None, "seed": 42, "data_seed": 42, "max_length": 640,
        "packing": True, "packing_strategy": "bfd", "completion_only_loss": True,
        "eval_strategy": "steps", "eval_steps": 25, "save_strategy": "steps", "save_steps": 25,
        "save_total_limit": 2, "logging_steps": 5, "load_best_model_at_end": False,
        "metric_for_best_model": "eval_loss", "greater_is_better": False,
        "report_to": ["tensorboard"], "include_num_input_tokens_seen": "non_padding",
        "dataloader_num_workers": 0, "disable_tqdm": False,
    }  # fmt: skip
    assert {name: getattr(cpu, name) for name in expected} == expected
    gpu = training_arguments(_config(tmp_path), tmp_path / "run", GPU, has_eval=False)
    assert gpu.optim == "paged_adamw_8bit"
    assert gpu.bf16 is False
    assert gpu.use_cpu is False
    assert gpu.gradient_checkpointing is True
    assert gpu.gradient_checkpointing_kwargs == {"use_reentrant": False}
    assert gpu.eval_strategy == "no"


def test_bf16_the_device_lacks_is_refused_with_the_fix(tmp_path: Path):
    with pytest.raises(TrainingRefused, match="bf16=false") as refused:
        training_arguments(_config(tmp_path, bf16=True), tmp_path / "run", CPU, has_eval=True)
    assert refused.value.param == "bf16"


def test_report_to_takes_transformers_names_and_refuses_others(tmp_path: Path):
    none = training_arguments(_config(tmp_path, report_to="none"), tmp_path, CPU, has_eval=True)
    assert none.report_to == []
    with pytest.raises(TrainingRefused, match="tensorbored is not an integration") as refused:
        training_arguments(
            _config(tmp_path, report_to=["tensorbored"]), tmp_path, CPU, has_eval=True
        )
    assert refused.value.param == "report_to"


class _Saves:
    """Stands in for the adapter and the tokenizer: writes a file where it is told to."""

    def save_pretrained(self, folder: Path, **_kwargs: Any) -> None:
        (Path(folder) / "adapter_config.json").write_text("{}")


def test_the_model_card_records_the_resolved_training_arguments(tmp_path: Path):
    config = _config(tmp_path, **CHANGED)
    args = training_arguments(config, tmp_path / "run", AMX_CPU, has_eval=True)
    recipe = QLoRARecipe(config, Settings(_env_file=None, data_dir=tmp_path / "data"))
    recipe.trainer = SimpleNamespace(model=_Saves(), processing_class=_Saves(), args=args)
    entry = recipe.save({"train_loss": 1.5})

    card = json.loads((entry / "card.json").read_text())
    assert card["config"]["num_train_epochs"] == 2.5  # the project's config, as given
    recorded = card["training_args"]
    assert recorded == training_arguments_record(args)
    for name, value in CHANGED.items():
        assert recorded[name] == value, name
    assert recorded["optim"] == "paged_adamw_8bit"  # resolved values, in TRL's vocabulary
    assert recorded["use_cpu"] is True
    assert recorded["adam_beta2"] == 0.999  # TRL's defaults too: the run, whole
    assert "output_dir" not in recorded
    assert not any(value == f"<{name.upper()}>" for name, value in recorded.items())
    assert str(tmp_path) not in json.dumps(recorded)


def test_openai_hyperparameters_map_to_the_trl_names(tmp_path: Path):
    record = {
        "model": "m",
        "fine_tuned_model_name": "acme",
        "hyperparameters": {"n_epochs": 2, "batch_size": 3, "learning_rate_multiplier": "auto"},
        "config": {"max_steps": 5},
    }
    overrides = job_config_overrides(record, tmp_path, tmp_path / "run")
    config = load_config(CONFIGS_DIR / "tiny_qlora.yaml", overrides)
    assert config.num_train_epochs == 2
    assert config.per_device_train_batch_size == 3
    assert config.max_steps == 5
