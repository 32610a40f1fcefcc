"""The recipe's configuration: typed, documented field by field, validated before any model loads.

Configs are YAML files in `services/trainer/configs/`, overridable on the command line as
`key=value` (`finerag train --config tiny_qlora.yaml max_steps=40 lora_r=8`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.errors import InvalidRequestError
from shared.names import validate_model_name
from shared.schemas import AutoToggle, LrScheduler, Optimizer, Precision, Quantization

CONFIGS_DIR = Path(__file__).parent / "configs"


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

    # --- model ------------------------------------------------------------------------------
    quantization: Quantization = Field(
        "4bit", description="4bit: NF4 base with double quantization (QLoRA); none: LoRA only."
    )
    lora_r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: str | list[str] = Field(
        "all-linear", description="Layers that get adapters; all-linear = q,k,v,o,gate,up,down."
    )
    lora_layers: int | None = Field(
        None,
        ge=1,
        description="Adapters on the last N decoder layers only (null: every layer). The frozen "
        "layers below need no backward pass, so the fewer layers, the faster a step.",
    )

    # --- data -------------------------------------------------------------------------------
    max_seq_len: int = Field(
        2048, ge=16, description="Longest training sequence; longer examples are dropped."
    )
    packing: bool = Field(
        True,
        description="Pack examples into full sequences, padding-free; attention stays within each "
        "example (FlashAttention 2 varlen on a bf16 GPU that has it, else per-example SDPA: "
        "packed_sdpa).",
    )

    # --- optimisation -----------------------------------------------------------------------
    per_device_batch_size: int = Field(2, ge=1, description="Sequences per device per step.")
    gradient_accumulation_steps: int = Field(8, ge=1, description="Micro-batches per update.")
    learning_rate: float = Field(2e-4, gt=0, lt=1, description="Peak learning rate.")
    lr_scheduler: LrScheduler = Field("cosine", description="Learning-rate schedule after warm-up.")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay on the adapters.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    num_epochs: float = Field(1.0, gt=0, description="Passes over the training split.")
    max_steps: int = Field(-1, description="Stop after this many updates (-1: use num_epochs).")
    optimizer: Optimizer = Field(
        "auto", description="auto: paged 8-bit AdamW on a GPU, AdamW on the CPU."
    )
    precision: Precision = Field(
        "auto",
        description="auto: bf16 on a GPU that has it and on a CPU with AMX, else fp32 (a CPU "
        "without AMX emulates bf16, slower than fp32).",
    )
    gradient_checkpointing: AutoToggle = Field(
        "auto", description="auto: on for a GPU (memory), off on the CPU (speed)."
    )
    seed: int = Field(42, description="Seed for data order, dropout and adapter init.")

    # --- evaluation, checkpoints, logs ------------------------------------------------------
    eval_steps: int = Field(50, ge=1, description="Evaluate on the validation split every N steps.")
    save_steps: int = Field(50, ge=1, description="Checkpoint every N steps (resumable).")
    save_total_limit: int = Field(3, ge=1, description="Checkpoints kept on disk.")
    logging_steps: int = Field(5, ge=1, description="Log loss and throughput every N steps.")
    early_stopping_patience: int = Field(
        3, ge=0, description="Stop after N evaluations without improvement (0: never)."
    )

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
    data.update(overrides or {})
    try:
        return RecipeConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidRequestError(f"invalid training config: {problems}", param="config") from exc
