"""The recipe's configuration: typed, documented field by field, validated before any model loads.

Configs are YAML files in `services/trainer/configs/`, overridable on the command line as
`key=value` (`finerag train --config tiny_qlora.yaml max_steps=40 lora_r=8`).

A knob that TRL or transformers has carries its name in `trl.SFTConfig` (and the
`transformers.TrainingArguments` it extends) or, for LoRA, in `trl.ModelConfig`, with the same
meaning, so their documentation applies. Where the recipe adds a value (`auto`: chosen by the
device, `null`: follow another field) or allows fewer, the field's description says so. The
other fields are the recipe's own. A key renamed to TRL's name is refused with its new name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.contracts.errors import InvalidRequestError
from shared.contracts.names import validate_model_name
from shared.contracts.schemas import (
    LrScheduler,
    Optimizer,
    PackingStrategy,
    Quantization,
    renamed_recipe_keys,
)

CONFIGS_DIR = Path(__file__).parent / "configs"


class TrainingRefused(InvalidRequestError):
    """The run cannot work as configured (device, memory, data); the message says what to change."""

    default_code = "training_refused"


class RecipeConfig(BaseModel):
    """QLoRA supervised fine-tuning of a causal LM on a grounded chat dataset."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- what -------------------------------------------------------------------------------
    base_model: str = Field(description="Hub id or local folder of the base model.")
    dataset: Path = Field(
        description="A dataset folder from `finerag dataset build` (train.jsonl, validation.jsonl)."
    )
    name: str = Field(description="Registry name of the fine-tuned model.")
    output_dir: Path | None = Field(
        None, description="Checkpoints and TensorBoard logs; default FINERAG_DATA_DIR/runs/NAME."
    )

    # --- model (LoRA knobs as trl.ModelConfig names them) ------------------------------------
    quantization: Quantization = Field(
        "4bit", description="4bit: NF4 base with double quantization (QLoRA); none: LoRA only."
    )
    lora_r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    lora_target_modules: str | list[str] = Field(
        "all-linear", description="Layers that get adapters; all-linear = q,k,v,o,gate,up,down."
    )
    lora_layers: int | None = Field(
        None,
        ge=1,
        description="Adapters on the last N decoder layers only (null: every layer). The frozen "
        "layers below need no backward pass, so the fewer layers, the faster a step.",
    )

    # --- data -------------------------------------------------------------------------------
    max_length: int = Field(
        2048,
        ge=16,
        description="Longest training sequence in tokens, and the length of a packed row. Unlike "
        "TRL, which truncates, the recipe drops a longer example (a cut grounded example would "
        "lose its answer).",
    )
    packing: bool = Field(
        True,
        description="Pack examples into full sequences, padding-free; attention stays within each "
        "example (FlashAttention 2 varlen on a bf16 GPU that has it, else per-example SDPA: "
        "packed_sdpa).",
    )
    packing_strategy: PackingStrategy = Field(
        "bfd",
        description="bfd: best-fit decreasing, padding-free. bfd_split packs the same here (no "
        "example is longer than max_length). TRL's wrapped is refused: it cuts examples "
        "mid-answer and lets them attend to each other.",
    )
    completion_only_loss: bool = Field(
        True,
        description="Loss on the answers only (the assistant turn); false: on every token, the "
        "system prompt, sources and question too.",
    )

    # --- optimisation -----------------------------------------------------------------------
    per_device_train_batch_size: int = Field(
        2, ge=1, description="Sequences (packed rows) per device per step."
    )
    per_device_eval_batch_size: int | None = Field(
        None, ge=1, description="Sequences per device per evaluation step (null: the train size)."
    )
    gradient_accumulation_steps: int = Field(8, ge=1, description="Micro-batches per update.")
    learning_rate: float = Field(2e-4, gt=0, lt=1, description="Peak learning rate.")
    lr_scheduler_type: LrScheduler = Field(
        "cosine", description="Learning-rate schedule after warm-up."
    )
    warmup_steps: float = Field(
        0.03,
        ge=0,
        description="Linear warm-up: a whole number of steps, or a value below 1 for that share "
        "of the total steps (transformers 5 has no warmup_ratio).",
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay on the adapters.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    num_train_epochs: float = Field(1.0, gt=0, description="Passes over the training split.")
    max_steps: int = Field(
        -1, description="Stop after this many updates (-1: use num_train_epochs)."
    )
    optim: Optimizer = Field(
        "auto", description="auto: paged 8-bit AdamW on a GPU (paged_adamw_8bit), else adamw_torch."
    )
    bf16: bool | Literal["auto"] = Field(
        "auto",
        description="bf16 compute (the base's and the adapters'), else fp32; fp16 is not offered. "
        "auto: bf16 on a GPU that has it and on a CPU with AMX, else fp32 (a CPU without AMX "
        "emulates bf16, slower than fp32).",
    )
    gradient_checkpointing: bool | Literal["auto"] = Field(
        "auto", description="auto: on for a GPU (memory), off on the CPU (speed)."
    )
    seed: int = Field(42, description="Seed for dropout, adapter init and (see data_seed) data.")
    data_seed: int | None = Field(
        None, description="Seed of the data sampler's shuffling (null: seed)."
    )

    # --- evaluation, checkpoints, logs ------------------------------------------------------
    eval_steps: int = Field(50, ge=1, description="Evaluate on the validation split every N steps.")
    save_steps: int = Field(50, ge=1, description="Checkpoint every N steps (resumable).")
    save_total_limit: int = Field(3, ge=1, description="Checkpoints kept on disk.")
    logging_steps: int = Field(5, ge=1, description="Log loss and throughput every N steps.")
    report_to: str | list[str] = Field(
        default_factory=lambda: ["tensorboard"],
        description="Where the logs go, as transformers names its integrations (tensorboard, "
        "wandb, mlflow, ...; none, or all that are installed); each needs its package and "
        "its own settings (wandb: WANDB_API_KEY).",
    )
    early_stopping_patience: int = Field(
        3, ge=0, description="Stop after N evaluations without improvement (0: never)."
    )

    @field_validator("warmup_steps")
    @classmethod
    def _steps_or_share(cls, value: float) -> float:
        if value >= 1 and not value.is_integer():
            raise ValueError(
                f"{value} is neither a whole number of steps nor a share of the steps (below 1)"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name_is_a_registry_name(cls, value: str) -> str:
        try:
            return validate_model_name(value)
        except InvalidRequestError as exc:
            raise ValueError(exc.message) from exc

    def check_files(self) -> None:
        """Fail early, with a fix, when inputs are missing (before any model is loaded)."""
        if not (self.dataset / "train.jsonl").is_file():
            raise InvalidRequestError(
                f"dataset {self.dataset} has no train.jsonl; build one with "
                "`finerag dataset build --qa FILE --out DIR`",
                param="dataset",
            )
        looks_local = self.base_model.startswith((".", "/", "~")) or Path(self.base_model).exists()
        if looks_local and not (Path(self.base_model).expanduser() / "config.json").is_file():
            raise InvalidRequestError(
                f"base_model {self.base_model} is not a model folder (no config.json)",
                param="base_model",
            )
        if self.save_steps % self.eval_steps and self.early_stopping_patience:
            raise InvalidRequestError(
                f"save_steps={self.save_steps} must be a multiple of eval_steps={self.eval_steps} "
                "when early stopping keeps the best checkpoint",
                param="save_steps",
            )


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are read as YAML (numbers, booleans, lists)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidRequestError(f"override {item!r} is not key=value", param="overrides")
        parsed = yaml.safe_load(value) if value else ""
        if isinstance(parsed, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", parsed):
            parsed = float(parsed)  # YAML 1.1 reads "2e-4" as a string
        overrides[key.strip()] = parsed
    return overrides


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> RecipeConfig:
    """Read a YAML config, apply overrides, validate the whole of it."""
    data: dict[str, Any] = {}
    if path is not None:
        if not path.is_file() and (CONFIGS_DIR / path.name).is_file():
            path = CONFIGS_DIR / path.name
        if not path.is_file():
            raise InvalidRequestError(f"config file {path} does not exist", param="config")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise InvalidRequestError(f"config file {path} is not a mapping", param="config")
        _refuse_renamed(data, f"config file {path}")
    _refuse_renamed(overrides or {}, "overrides")
    data.update(overrides or {})
    try:
        return RecipeConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidRequestError(f"invalid training config: {problems}", param="config") from exc


def _refuse_renamed(data: dict[str, Any], where: str) -> None:
    """An old key name is an error that names the new one (not an unknown key, not the new)."""
    renamed = renamed_recipe_keys(data)
    if renamed is not None:
        key, message = renamed
        raise InvalidRequestError(f"invalid training config in {where}: {message}", param=key)
