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

from services.trainer.config import RecipeConfig, TrainingRefused
from services.trainer.labels import label_example
from services.trainer.memory import GiB, device_memory_bytes, estimate_memory
from services.trainer.packed_attention import select_attention
from services.trainer.training_args import (
    resolve_checkpointing,
    resolve_precision,
    training_arguments,
    training_arguments_record,
)
from shared.contracts.chat_data import iter_chat_jsonl
from shared.infrastructure.registry import ModelCard, publish, write_card
from shared.infrastructure.settings import Settings
from shared.models.loading import (
    DeviceProfile,
    dequantizing_4bit_matmul,
    device_profile,
    load_base_model,
    load_tokenizer,
    lora_config,
)

log = logging.getLogger("finerag.trainer.recipe")

Event = dict[str, Any]
EventSink = Callable[[Event], None]


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
        bf16 = resolve_precision(config, detected)
        # The base loads and computes in the resolved precision (bf16=false on an AMX CPU
        # or a bf16 GPU means fp32 weights and 4-bit compute, not only fp32 adapters).
        self.profile = profile = replace(detected, bf16=bf16)
        checkpointing = resolve_checkpointing(config, profile)
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
