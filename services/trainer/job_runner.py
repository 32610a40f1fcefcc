"""Running one fine-tuning job from the queue: lease, resume, train, publish, exactly once.

The Celery task (`services.trainer.worker`) only calls `run_job(job_id)`. Everything is re-read
from the job store here, so a task delivered twice, or again after a crash, does the right thing:
a finished job is left alone, a job leased by a live worker is skipped, and a job whose worker
died resumes from its last checkpoint (optimizer, scheduler and RNG state) under a new fencing
token, at most MAX_ATTEMPTS times.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from transformers import TrainerCallback

from services.trainer.config import RecipeConfig, TrainingRefused, load_config
from services.trainer.job_evaluation import EvaluationStopped, GateOutcome, evaluate_job_model
from services.trainer.recipe import QLoRARecipe
from shared.contracts.errors import FineRAGError, NotFoundError
from shared.contracts.schemas import EventLevel, JobStatus
from shared.infrastructure.files import FileStore
from shared.infrastructure.jobs import MAX_ATTEMPTS, TERMINAL, FencedOut, JobStore
from shared.infrastructure.logs import bind
from shared.infrastructure.settings import Settings

log = logging.getLogger("finerag.trainer.jobs")


class JobStopped(Exception):
    """Training stopped early: cancelled, or the lease was lost."""


class RetryableJobError(Exception):
    """An attempt failed for a reason another attempt may not meet; the job is queued again."""


def worker_name() -> str:
    """This process, as named in leases and events."""
    return f"{socket.gethostname()}:{os.getpid()}"


def last_checkpoint(output_dir: Path) -> Path | None:
    """The newest `checkpoint-N` folder that finished writing (it has trainer_state.json)."""
    found = []
    for path in output_dir.glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", path.name)
        if match and (path / "trainer_state.json").is_file():
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


class _Heartbeat:
    """Renews the lease in the background; notices when it is lost.

    The lease is lost when Redis says another worker holds it, and also when no renewal has
    succeeded for a whole TTL (Redis unreachable): by then the lease may have lapsed and the job
    been given to another worker, so this one must stop at its next step.
    """

    def __init__(self, store: JobStore, job_id: str, worker: str, token: int, ttl_s: float) -> None:
        self.store, self.job_id, self.worker, self.token, self.ttl_s = (
            store,
            job_id,
            worker,
            token,
            ttl_s,
        )
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id}", daemon=True)

    def _run(self) -> None:
        renewed = time.monotonic()
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.store.renew_lease(self.job_id, self.worker, self.token, self.ttl_s):
                    log.warning("lease taken over by another worker")
                    self.lost.set()
                    return
                renewed = time.monotonic()
            except redis.RedisError as exc:
                if time.monotonic() - renewed >= self.ttl_s:
                    log.warning("lease not renewed for %.0f s (%s); stopping", self.ttl_s, exc)
                    self.lost.set()
                    return

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _JobCallback(TrainerCallback):
    """Stops within one step on cancel or lost lease; records checkpoints as they are saved."""

    def __init__(self, store: JobStore, job_id: str, token: int, heartbeat: _Heartbeat) -> None:
        self.store, self.job_id, self.token, self.heartbeat = store, job_id, token, heartbeat
        self.stop_reason: str | None = None

    def check(self) -> str | None:
        """Why the job must stop now ("cancelled", "lease lost"), or None.

        While Redis is unreachable a cancel cannot be read; the heartbeat decides whether the
        lease still holds.
        """
        if self.heartbeat.lost.is_set():
            self.stop_reason = "lease lost"
        elif _unless_redis_down(self.store.cancel_requested, self.job_id):
            self.stop_reason = "cancelled"
        return self.stop_reason

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.check():
            control.should_training_stop = True
            control.should_save = False

    def _record_checkpoint(self, step: int, path: str, metrics: dict[str, Any]) -> None:
        self.store.add_checkpoint(self.job_id, step, path, metrics, token=self.token)
        self.store.update(
            self.job_id, lambda r: r.update(last_checkpoint_step=step), token=self.token
        )

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        losses = [e["loss"] for e in state.log_history if "loss" in e]
        metrics = {"train_loss": losses[-1]} if losses else {}
        # On disk it is resumable either way (resume reads the folder); the record is for users.
        _unless_redis_down(self._record_checkpoint, state.global_step, str(path), metrics)


def _unless_redis_down(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call(...)`, or None (logged) while Redis cannot be reached; FencedOut still raises."""
    try:
        return call(*args, **kwargs)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("job store unreachable, %s skipped: %s", getattr(call, "__name__", call), exc)
        return None


def _job_dataset(settings: Settings, record: dict[str, Any], workdir: Path) -> Path:
    """The job's data as a dataset folder (uploaded files are copied in; nothing is mutated)."""
    files = FileStore(settings.data_dir / "files")
    dataset = workdir / "dataset"
    dataset.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(files.path(record["training_file"]), dataset / "train.jsonl")
    if record.get("validation_file"):
        shutil.copyfile(files.path(record["validation_file"]), dataset / "validation.jsonl")
    return dataset


def job_config_overrides(record: dict[str, Any], dataset: Path, output_dir: Path) -> dict[str, Any]:
    """The recipe overrides a job asks for: base model, data, name, hyperparameters, config."""
    overrides: dict[str, Any] = dict(record.get("config") or {})
    hyper = record.get("hyperparameters") or {}
    if isinstance(hyper.get("n_epochs"), int | float):
        overrides["num_train_epochs"] = hyper["n_epochs"]
    if isinstance(hyper.get("batch_size"), int):
        overrides["per_device_train_batch_size"] = hyper["batch_size"]
    overrides.update(
        base_model=record["model"],
        dataset=str(dataset),
        name=record["fine_tuned_model_name"],
        output_dir=str(output_dir),
    )
    return overrides


def run_job(job_id: str, settings: Settings, store: JobStore) -> str:
    """Run (or resume, or skip) one job; returns what happened, for the task's result."""
    with bind(job_id=job_id):
        try:
            record = store.get(job_id)
        except NotFoundError:
            log.warning("job no longer exists; nothing to do")
            return "missing"
        if record["status"] in TERMINAL:
            log.info("job already %s; nothing to do", record["status"])
            return record["status"]
        worker = worker_name()
        token = store.acquire_lease(job_id, worker, settings.train_lease_ttl_s)
        if token is None:
            log.info("job is leased by another worker; skipping this delivery")
            return "skipped"
        try:
            return _run_leased(job_id, settings, store, worker, token)
        finally:
            _unless_redis_down(store.release_lease, job_id, worker, token)  # else it lapses


def _run_leased(job_id: str, settings: Settings, store: JobStore, worker: str, token: int) -> str:
    """One attempt under the lease: however it goes, the job ends with a status or is requeued."""
    record = store.update(
        job_id, lambda r: r.update(attempts=r.get("attempts", 0) + 1), token=token
    )
    attempt = _Attempt(job_id, settings, store, worker, token, record)
    ended = attempt.give_up_or_cancel()
    if ended is not None:
        return ended
    resume = attempt.start()
    try:
        return attempt.run(resume)
    except (FencedOut, JobStopped) as exc:
        log.warning("job stopped without finishing: %s", exc)
        return "stopped"
    except Exception as exc:
        return attempt.fail(exc)


@dataclass(frozen=True)
class _Attempt:
    """One attempt at a leased job; every write to the job is fenced by the lease's token."""

    job_id: str
    settings: Settings
    store: JobStore
    worker: str
    token: int
    record: dict[str, Any]  # with this attempt counted

    @property
    def output_dir(self) -> Path:
        """The run's folder: the same on every attempt, so a later one finds the checkpoints."""
        return self.settings.data_dir / "runs" / self.job_id

    def set_status(self, status: JobStatus, **fields: Any) -> None:
        self.store.set_status(self.job_id, status, token=self.token, **fields)

    def add_event(
        self, level: EventLevel, message: str, data: dict[str, Any] | None = None
    ) -> None:
        self.store.add_event(self.job_id, level, message, data=data, token=self.token)

    def give_up_or_cancel(self) -> str | None:
        """End the job before any work if no attempt is left or it was cancelled while queued."""
        if self.record["attempts"] > MAX_ATTEMPTS:
            last = (self.record.get("error") or {}).get("message", "unknown error")
            message = f"gave up after {MAX_ATTEMPTS} attempts: {last}"
            error = {"code": "max_attempts", "message": message, "param": None}
            self.set_status("failed", error=error)
            return "failed"
        if self.store.cancel_requested(self.job_id):
            self.set_status("cancelled")
            return "cancelled"
        return None

    def start(self) -> Path | None:
        """Mark the job running, with an event; returns the checkpoint to resume from, if any."""
        resume = last_checkpoint(self.output_dir)
        self.set_status("running", worker=self.worker)
        resumed_step = int(resume.name.split("-")[1]) if resume else None
        attempts = self.record["attempts"]
        self.add_event(
            "info",
            f"Attempt {attempts} started on {self.worker}"
            + (f", resuming from step {resumed_step}" if resume else ""),
            data={"attempt": attempts, "resumed_from_step": resumed_step},
        )
        return resume

    def run(self, resume: Path | None) -> str:
        """Train, publish and evaluate while the heartbeat holds the lease; then succeeded."""
        workdir = self.settings.data_dir / "jobs" / self.job_id
        dataset = _job_dataset(self.settings, self.record, workdir)
        config = self.recipe_config(dataset)
        ttl_s = self.settings.train_lease_ttl_s
        with _Heartbeat(self.store, self.job_id, self.worker, self.token, ttl_s) as heartbeat:
            callback = _JobCallback(self.store, self.job_id, self.token, heartbeat)
            metrics = self.train_and_publish(config, callback, resume)
            if metrics is None:
                return "cancelled"
            outcome = self.evaluate(config, dataset, callback)
            if outcome is None:
                return "cancelled"
        self.set_status(
            "succeeded",
            fine_tuned_model=config.name,
            trained_tokens=metrics.get("tokens_seen"),
            metrics=metrics,
            promoted=outcome.promoted,
            release_gate=outcome.verdict,
        )
        return "succeeded"

    def recipe_config(self, dataset: Path) -> RecipeConfig:
        """The trainer's config with the job's overrides and its learning-rate multiplier."""
        overrides = job_config_overrides(self.record, dataset, self.output_dir)
        config = load_config(Path(self.settings.train_config), overrides)
        base_lr = config.learning_rate
        multiplier = (self.record.get("hyperparameters") or {}).get("learning_rate_multiplier")
        if isinstance(multiplier, int | float):
            config.learning_rate = base_lr * multiplier
        return config

    def on_event(self, event: dict[str, Any]) -> None:
        """A training progress event as a job event; skipped, not fatal, while Redis is down."""
        parts = [f"Step {event['step']}/{event['max_steps']}"]
        for key, label in (("loss", "training loss"), ("eval_loss", "validation loss")):
            if key in event:
                parts.append(f"{label}={event[key]:.4f}")
        text = ", ".join(parts)
        _unless_redis_down(
            self.store.add_event, self.job_id, "info", text, data=event, token=self.token
        )

    def train_and_publish(
        self, config: RecipeConfig, callback: _JobCallback, resume: Path | None
    ) -> dict[str, Any] | None:
        """Train and publish; the metrics, or None if cancelled (JobStopped: the lease was lost)."""
        recipe = QLoRARecipe(
            config, self.settings, on_event=self.on_event, callbacks=[callback], report=log.info
        )
        try:
            recipe.setup()
            metrics = recipe.train(str(resume) if resume else None)
            if callback.stop_reason == "cancelled":
                self.set_status("cancelled")
                return None
            if callback.stop_reason:
                raise JobStopped(callback.stop_reason)
            # Still ours before publishing: a fenced no-op write raises FencedOut if not.
            self.store.update(self.job_id, lambda r: None, token=self.token)
            recipe.save(metrics, job_id=self.job_id)
        finally:
            recipe.cleanup()
        return metrics

    def evaluate(
        self, config: RecipeConfig, dataset: Path, callback: _JobCallback
    ) -> GateOutcome | None:
        """The release gate's outcome; None if cancelled (the model is kept, not promoted)."""
        self.add_event("info", "Evaluating the model against its base")
        try:
            outcome = evaluate_job_model(
                self.settings,
                self.record,
                model_name=config.name,
                base_model=config.base_model,
                quantization=config.quantization,
                dataset_dir=dataset,
                should_stop=callback.check,
            )
        except EvaluationStopped as stopped:
            if stopped.reason != "cancelled":
                raise JobStopped(stopped.reason) from None
            self.add_event("info", f"Cancelled during evaluation: {config.name} kept, not promoted")
            self.set_status("cancelled")
            return None
        self.add_event("info", outcome.summary, data={"release_gate": outcome.verdict})
        return outcome

    def fail(self, exc: Exception) -> str:
        """Fail for good if a retry cannot help or none is left, else requeue: RetryableJobError."""
        if _callers_fault(exc):  # a bad config, a missing file, too little memory: no retry
            log.warning("job failed: %s", exc)
            self.set_status("failed", error=_error(exc))
            return "failed"
        log.exception("attempt failed")
        error = _error(exc)
        if self.record["attempts"] >= MAX_ATTEMPTS:
            self.set_status("failed", error=error)
            return "failed"
        self.store.update(
            self.job_id, lambda r: r.update(status="queued", error=error), token=self.token
        )
        self.add_event("warn", f"Attempt {self.record['attempts']} failed: {error['message']}")
        raise RetryableJobError(error["message"]) from exc


def _callers_fault(exc: BaseException) -> bool:
    """Failures that the same job would meet again: retrying cannot help."""
    if isinstance(exc, TrainingRefused):  # configuration or memory
        return True
    return isinstance(exc, FineRAGError) and exc.status < 500


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, FineRAGError):
        return {"code": exc.code, "message": exc.message, "param": exc.param}
    return {
        "code": "training_error",
        "message": f"{type(exc).__name__}: {exc}".strip()[:2000],
        "param": None,
        "trace": traceback.format_exception_only(exc)[-1].strip()[:500],
    }
