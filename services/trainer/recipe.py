"""The QLoRA fine-tuning recipe: one readable class, `setup → train → save → cleanup`.

It wraps TRL's `SFTTrainer` and adds only what a company's run needs around it: the whole
config validated and a memory estimate printed before anything loads, precision and gradient
checkpointing chosen by the device, prompt-completion data so only answers are trained, and a
registry entry (adapter, tokenizer, card) written atomically at the end.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from services.trainer.config import RecipeConfig
from services.trainer.labels import label_example
from services.trainer.memory import GiB, device_memory_bytes, estimate_memory
from services.trainer.packed_attention import select_attention
from shared.chat_data import iter_chat_jsonl
from shared.errors import InvalidRequestError
from shared.modeling import (
    DeviceProfile,
    dequantizing_4bit_matmul,
    device_profile,
    load_base_model,
    load_tokenizer,
    lora_config,
)
from shared.registry import ModelCard, publish, write_card
from shared.settings import Settings

log = logging.getLogger("finerag.trainer.recipe")

Event = dict[str, Any]
EventSink = Callable[[Event], None]


class TrainingRefused(InvalidRequestError):
    """The run cannot work as configured (device, memory, data); the message says what to change."""

    default_code = "training_refused"


@dataclass
class PreparedData:
    """The splits in TRL's prompt-completion format, and what was dropped on the way."""

    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    dropped_too_long: int = 0
    token_counts: list[int] = field(default_factory=list)


def prepare_data(dataset_dir: Path, tokenizer: Any, max_length: int) -> PreparedData:
    """Read and tokenize train/validation chat JSONL; drop (never truncate) examples over
    `max_length`. Rows are TRL's tokenized form (`input_ids`, `completion_mask`), encoded as the
    gateway encodes prompts (`services.trainer.labels.label_example`)."""
    data = PreparedData([], [])
    for split in ("train", "validation"):
        path = dataset_dir / f"{split}.jsonl"
        if not path.is_file():
            continue
        rows = getattr(data, split)
        for messages in iter_chat_jsonl(path):
            example = label_example(tokenizer, messages)
            length = len(example.input_ids)
            if length > max_length:
                data.dropped_too_long += 1
                continue
            rows.append(
                {"input_ids": example.input_ids, "completion_mask": example.completion_mask}
            )
            data.token_counts.append(length)
    if not data.train:
        raise TrainingRefused(
            f"no training example fits max_length={max_length} in {dataset_dir}; "
            "raise max_length or use shorter contexts",
            param="max_length",
        )
    return data


def _resolve_precision(config: RecipeConfig, profile: DeviceProfile) -> bool:
    """Whether to train in bf16; refuses a bf16 request the device cannot honour."""
    if config.bf16 is True and not profile.bf16:
        raise TrainingRefused(
            f"bf16 precision is not supported on this device ({profile.device}); "
            "use bf16=false (fp32) or bf16=auto",
            param="bf16",
        )
    return profile.bf16 if config.bf16 == "auto" else config.bf16


def _resolve_checkpointing(config: RecipeConfig, profile: DeviceProfile) -> bool:
    """Whether to checkpoint activations: as asked, or (auto) where memory is the limit."""
    if config.gradient_checkpointing == "auto":
        return profile.gradient_checkpointing
    return config.gradient_checkpointing


def _resolve_optimizer(config: RecipeConfig, profile: DeviceProfile) -> str:
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

    bf16 = _resolve_precision(config, profile)
    checkpointing = _resolve_checkpointing(config, profile)
    optim = _resolve_optimizer(config, profile)
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


class ProgressEvents:
    """Turns the trainer's logs into job events: step, loss, eval loss, tokens/s, ETA."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self.started = time.monotonic()
        self.first_step: int | None = None
        self.first_tokens = 0

    def on_log(self, step: int, max_steps: int, tokens_seen: int, logs: dict[str, float]) -> None:
        """Emit one event for a log line of the trainer."""
        now = time.monotonic()
        if self.first_step is None:  # measure from the first log (after a resume, too)
            self.first_step, self.first_tokens, self.started = step, tokens_seen, now
        elapsed = max(now - self.started, 1e-6)
        steps_done = step - self.first_step
        tokens_per_s = (tokens_seen - self.first_tokens) / elapsed if steps_done else None
        eta = (max_steps - step) * elapsed / steps_done if steps_done else None
        event: Event = {"step": step, "max_steps": max_steps}
        for key in ("loss", "eval_loss", "learning_rate", "grad_norm", "epoch"):
            if key in logs:
                event[key] = round(float(logs[key]), 6)
        if tokens_per_s is not None:
            event["tokens_per_s"] = round(tokens_per_s, 1)
        if eta is not None:
            event["eta_s"] = round(eta, 1)
        self.sink(event)


class QLoRARecipe:
    """Fine-tune `config.base_model` on `config.dataset` with LoRA (on a 4-bit base for QLoRA)."""

    def __init__(
        self,
        config: RecipeConfig,
        settings: Settings,
        *,
        on_event: EventSink | None = None,
        callbacks: Sequence[Any] = (),
        report: Callable[[str], None] = print,
    ) -> None:
        self.config = config
        self.settings = settings
        self.on_event = on_event or (lambda _event: None)
        self.extra_callbacks = list(callbacks)
        self.report = report
        self.output_dir = config.output_dir or settings.data_dir / "runs" / config.name
        self.trainer: Any = None
        self.data: PreparedData | None = None
        self.profile: DeviceProfile | None = None

    # --- setup ------------------------------------------------------------------------------
    def setup(self) -> None:
        """Validate everything, estimate memory, then load data, model and trainer."""
        from transformers import AutoConfig

        config = self.config
        config.check_files()
        detected = device_profile()
        bf16 = _resolve_precision(config, detected)
        # The base loads and computes in the resolved precision (bf16=false on an AMX CPU
        # or a bf16 GPU means fp32 weights and 4-bit compute, not only fp32 adapters).
        self.profile = profile = replace(detected, bf16=bf16)
        checkpointing = _resolve_checkpointing(config, profile)
        model_config = AutoConfig.from_pretrained(config.base_model)
        estimate = estimate_memory(
            model_config,
            quantization=config.quantization,
            lora_r=config.lora_r,
            batch_size=config.per_device_train_batch_size,
            seq_len=config.max_length,
            compute_bytes=2 if bf16 else 4,
            gradient_checkpointing=checkpointing,
            device=profile.device,
        )
        capacity = device_memory_bytes(profile.device)
        self.report(
            f"pre-flight memory estimate on {profile.device} "
            f"({capacity / GiB:.1f} GiB available):\n{estimate.table()}"
        )
        if estimate.total > 0.9 * capacity:
            raise TrainingRefused(
                f"this run needs about {estimate.total / GiB:.1f} GiB but the {profile.device} "
                f"has {capacity / GiB:.1f} GiB: lower per_device_train_batch_size "
                f"({config.per_device_train_batch_size}) or max_length ({config.max_length}), "
                "use quantization=4bit, or gradient_checkpointing=true",
                param="per_device_train_batch_size",
            )

        tokenizer = load_tokenizer(config.base_model)
        self.data = data = prepare_data(config.dataset, tokenizer, config.max_length)
        self.report(
            f"data: {len(data.train)} train / {len(data.validation)} validation examples, "
            f"{data.dropped_too_long} dropped as longer than {config.max_length} tokens"
        )
        # Before the model loads, so that a setting TRL or transformers refuses fails first.
        args = training_arguments(config, self.output_dir, profile, has_eval=bool(data.validation))
        model = load_base_model(
            config.base_model,
            quantization=config.quantization,
            profile=profile,
            attn_implementation=select_attention(config.packing, profile),
        )
        if config.quantization == "4bit":
            from peft import prepare_model_for_kbit_training

            if profile.device == "cpu":
                dequantizing_4bit_matmul(model)  # evaluation runs the training kernel, 4.7x faster

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
        self.trainer = self._build_trainer(model, tokenizer, args)

    def _build_trainer(self, model: Any, tokenizer: Any, args: Any) -> Any:
        import torch
        from datasets import Dataset
        from transformers import EarlyStoppingCallback

        from services.trainer.completion_loss import CompletionLossSFTTrainer

        config, data = self.config, self.data
        assert data is not None
        has_eval = bool(data.validation)
        callbacks = [_EventCallback(ProgressEvents(self.on_event)), *self.extra_callbacks]
        if has_eval and config.early_stopping_patience > 0:
            callbacks.append(EarlyStoppingCallback(config.early_stopping_patience))
        trainer = CompletionLossSFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(data.train),
            eval_dataset=Dataset.from_list(data.validation) if has_eval else None,
            processing_class=tokenizer,
            peft_config=lora_config(
                config.lora_r,
                config.lora_alpha,
                config.lora_dropout,
                config.lora_target_modules,
                model=model,
                layers=config.lora_layers,
            ),
            callbacks=callbacks,
        )
        if not args.bf16 and trainer.model is not None:
            # TRL casts QLoRA adapters to bf16 (the paper's setting); on a device without fast
            # bf16 that is slower and less precise, so the adapters train in fp32 there.
            for parameter in trainer.model.parameters():
                if parameter.requires_grad:
                    parameter.data = parameter.data.to(torch.float32)
        return trainer

    # --- train ------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: str | None = None) -> dict[str, Any]:
        """Run training (resuming optimizer, scheduler and RNG state from a checkpoint)."""
        if self.trainer is None:
            raise RuntimeError("call setup() before train()")
        try:
            result = self.trainer.train(resume_from_checkpoint=resume_from_checkpoint)
        except Exception as exc:
            if _is_out_of_memory(exc):
                raise TrainingRefused(
                    "out of memory: lower per_device_train_batch_size "
                    f"({self.config.per_device_train_batch_size}) or max_length "
                    f"({self.config.max_length}), or set gradient_checkpointing=true",
                    code="out_of_memory",
                    param="per_device_train_batch_size",
                ) from exc
            raise
        metrics = dict(result.metrics)
        metrics["global_step"] = int(self.trainer.state.global_step)
        metrics["tokens_seen"] = int(self.trainer.state.num_input_tokens_seen)
        evals = [e["eval_loss"] for e in self.trainer.state.log_history if "eval_loss" in e]
        if evals:
            metrics["best_eval_loss"] = min(evals)
            metrics["last_eval_loss"] = evals[-1]
        return metrics

    # --- save -------------------------------------------------------------------------------
    def save(
        self,
        metrics: dict[str, Any],
        *,
        job_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Write adapter, tokenizer and card into the registry (atomically)."""
        staging = self.settings.models_dir / f".staging-{self.config.name}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        self.trainer.model.save_pretrained(staging, safe_serialization=True)
        self.trainer.processing_class.save_pretrained(staging)
        card = ModelCard(
            name=self.config.name,
            base_model=self.config.base_model,
            dataset_version=_dataset_version(self.config.dataset),
            job_id=job_id,
            method="qlora" if self.config.quantization == "4bit" else "lora",
            config=json.loads(self.config.model_dump_json()),
            training_args=training_arguments_record(self.trainer.args),
            metrics={k: v for k, v in metrics.items() if _is_number(v)},
            **(extra or {}),
        )
        write_card(staging, card)
        return publish(staging, self.settings.models_dir, self.config.name)

    def run(self) -> tuple[dict[str, Any], Path]:
        """setup → train → save → cleanup, for a run with nobody to interrupt it."""
        self.setup()
        try:
            metrics = self.train()
            return metrics, self.save(metrics)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        """Release the model (and GPU memory)."""
        self.trainer = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is a trainer dependency
            pass


def _dataset_version(dataset_dir: Path) -> str | None:
    card = dataset_dir / "card.json"
    if card.is_file():
        version = json.loads(card.read_text(encoding="utf-8")).get("version")
        return str(version) if version else None
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError) or "out of memory" in str(exc)


class _EventCallback(TrainerCallback):
    """Forward the trainer's log lines to `ProgressEvents`."""

    def __init__(self, events: ProgressEvents) -> None:
        self.events = events

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        self.events.on_log(
            state.global_step, state.max_steps, state.num_input_tokens_seen, logs or {}
        )
