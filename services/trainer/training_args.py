"""The run's `SFTConfig`, resolved from the recipe's config for the device it trains on.

Every TRL knob of the config arrives under its own name; `auto` and `null` values are resolved
here (precision, activation checkpointing, optimizer), what follows from how the recipe works is
fixed (`FIXED_TRAINING_ARGUMENTS`), and the result is recorded whole in the model card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.trainer.config import RecipeConfig, TrainingRefused
from shared.models.loading import DeviceProfile


def resolve_precision(config: RecipeConfig, profile: DeviceProfile) -> bool:
    """Whether to train in bf16; refuses a bf16 request the device cannot honour."""
    if config.bf16 is True and not profile.bf16:
        raise TrainingRefused(
            f"bf16 precision is not supported on this device ({profile.device}); "
            "use bf16=false (fp32) or bf16=auto",
            param="bf16",
        )
    return profile.bf16 if config.bf16 == "auto" else config.bf16


def resolve_checkpointing(config: RecipeConfig, profile: DeviceProfile) -> bool:
    """Whether to checkpoint activations: as asked, or (auto) where memory is the limit."""
    if config.gradient_checkpointing == "auto":
        return profile.gradient_checkpointing
    return config.gradient_checkpointing


def resolve_optimizer(config: RecipeConfig, profile: DeviceProfile) -> str:
    """The optimizer: as asked, or (auto) paged 8-bit AdamW on a GPU to save memory, else AdamW."""
    if config.optim == "auto":
        return "paged_adamw_8bit" if profile.device == "cuda" else "adamw_torch"
    return config.optim


# The SFTConfig arguments the recipe fixes instead of reading them from its config: each follows
# from how the recipe works (and is recorded in the model card with the rest), none is a choice
# that one run makes differently from another.
FIXED_TRAINING_ARGUMENTS: dict[str, Any] = {
    "fp16": False,  # bf16, or fp32 with bf16=false: fp16 would need loss scaling
    "save_strategy": "steps",  # a checkpoint every save_steps: what a resumed job restarts from
    "metric_for_best_model": "eval_loss",  # early stopping's measure, the one metric evaluated
    "greater_is_better": False,
    "include_num_input_tokens_seen": "non_padding",  # the tokens/s of the job's events
    "dataloader_num_workers": 0,  # the rows are tokenized and in memory
    "disable_tqdm": False,
}


def training_arguments(
    config: RecipeConfig, output_dir: Path, profile: DeviceProfile, *, has_eval: bool
) -> Any:
    """The run's `SFTConfig`: every TRL knob of `config` under its own name, its `auto` and
    `null` values resolved (for the device of `profile`), what the data decides (evaluation only
    with a validation split) and `FIXED_TRAINING_ARGUMENTS`."""
    from trl import SFTConfig

    bf16 = resolve_precision(config, profile)
    checkpointing = resolve_checkpointing(config, profile)
    optim = resolve_optimizer(config, profile)
    eval_batch_size = config.per_device_eval_batch_size or config.per_device_train_batch_size
    report_to = config.report_to if isinstance(config.report_to, str) else list(config.report_to)
    args = SFTConfig(
        output_dir=str(output_dir),
        # data
        max_length=config.max_length,
        packing=config.packing,
        packing_strategy=config.packing_strategy,
        completion_only_loss=config.completion_only_loss,
        # optimisation
        per_device_train_batch_size=config.per_device_train_batch_size,
        per_device_eval_batch_size=eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        optim=optim,
        bf16=bf16,
        gradient_checkpointing=checkpointing,
        # Non-reentrant checkpointing, as PyTorch recommends: the same gradients.
        gradient_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        use_cpu=profile.device == "cpu",
        seed=config.seed,
        data_seed=config.seed if config.data_seed is None else config.data_seed,
        # evaluation, checkpoints, logs
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps,
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        load_best_model_at_end=has_eval and config.early_stopping_patience > 0,
        report_to=report_to,
        **FIXED_TRAINING_ARGUMENTS,
    )
    _check_report_to(args)
    return args


def _check_report_to(args: Any) -> None:
    """Refuse a `report_to` that transformers has no integration for, before the model loads."""
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    # A list once SFTConfig has read it ("none" is [], "all" the integrations installed).
    reported: list[str] = list(args.report_to or [])
    unknown = [name for name in reported if name not in INTEGRATION_TO_CALLBACK]
    if unknown:
        raise TrainingRefused(
            f"report_to: {', '.join(unknown)} is not an integration of transformers; "
            f"choose from {', '.join(INTEGRATION_TO_CALLBACK)}, or none",
            param="report_to",
        )


def training_arguments_record(args: Any) -> dict[str, Any]:
    """The resolved `SFTConfig` for the model card: TRL's own `to_dict()` (every argument, the
    defaults included, so the card says how the run trained even after TRL changes a default),
    less `output_dir` (a folder on the machine that trained, already in the card's config) and
    the `*_token` fields that `to_dict()` masks as `<NAME_TOKEN>` (placeholders that say nothing).
    """
    record = {
        key: value
        for key, value in args.to_dict().items()
        if key != "output_dir" and value != f"<{key.upper()}>"
    }
    return dict(json.loads(json.dumps(record, default=str)))
