"""Fine-tuning jobs as the gateway sees them: validate, record in Redis, send to queue `train`.

The gateway never imports trainer code: it writes the job record (shared.infrastructure.jobs) and
sends the Celery task by name (shared.contracts.queues). The worker re-reads everything from the
record.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from celery import Celery
from pydantic import ValidationError

from shared.contracts.errors import InvalidRequestError
from shared.contracts.names import check_kb_name
from shared.contracts.queues import TRAIN_QUEUE, TRAIN_TASK
from shared.contracts.schemas import (
    CursorPage,
    FileObject,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    ListPage,
    TrainingOverrides,
    renamed_recipe_keys,
)
from shared.infrastructure.files import FileStore
from shared.infrastructure.jobs import JobStore, new_job_id
from shared.infrastructure.settings import Settings

_HYPER_LIMITS: dict[str, tuple[type, float, float]] = {
    "n_epochs": (int, 1, 50),
    "batch_size": (int, 1, 256),
    "learning_rate_multiplier": (float, 1e-3, 100.0),
}
_METHODS = {"qlora": "4bit", "lora": "none"}
_SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class FineTuningService:
    """Creates, lists and cancels jobs and keeps their files; the worker does the training."""

    def __init__(self, settings: Settings, store: JobStore, files: FileStore) -> None:
        self.settings = settings
        self.store = store
        self.files = files
        self.celery = Celery("finerag-gateway", broker=settings.redis_url)
        self.celery.conf.update(
            broker_transport_options={"visibility_timeout": settings.train_visibility_timeout_s},
            broker_connection_retry_on_startup=True,
        )

    def trainable_models(self) -> list[str]:
        """Base models a job may name: FINERAG_BASE_MODEL and FINERAG_TRAINABLE_BASE_MODELS."""
        return list(dict.fromkeys([self.settings.base_model, *self.settings.trainable_base_models]))

    def _check_model(self, model: Any) -> str:
        """One of the allowed base models; nothing about the server's folders is told."""
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("'model' must name a base model", param="model")
        if model in self.trainable_models():
            return model
        raise InvalidRequestError(
            f"unknown base model {model!r}; this deployment fine-tunes "
            f"{', '.join(self.trainable_models())}",
            param="model",
            code="model_not_found",
        )

    @staticmethod
    def _check_hyperparameters(raw: Any) -> dict[str, Any]:
        if raw is None:
            return {name: "auto" for name in _HYPER_LIMITS}
        if not isinstance(raw, dict):
            raise InvalidRequestError(
                "'hyperparameters' must be an object", param="hyperparameters"
            )
        unknown = set(raw) - set(_HYPER_LIMITS)
        if unknown:
            raise InvalidRequestError(
                f"unknown hyperparameters {sorted(unknown)}; supported: {sorted(_HYPER_LIMITS)}",
                param="hyperparameters",
            )
        clean: dict[str, Any] = {}
        for name, (kind, low, high) in _HYPER_LIMITS.items():
            value = raw.get(name, "auto")
            if value == "auto":
                clean[name] = value
                continue
            valid_type = isinstance(value, int | float) and not isinstance(value, bool)
            if kind is int:
                valid_type = valid_type and float(value).is_integer()
            if not valid_type or not low <= value <= high:
                raise InvalidRequestError(
                    f"hyperparameters.{name} must be 'auto' or a {kind.__name__} in "
                    f"[{low:g}, {high:g}], got {value!r}",
                    param=f"hyperparameters.{name}",
                )
            clean[name] = kind(value)
        return clean

    @staticmethod
    def _check_config(raw: Any) -> dict[str, Any]:
        """`config`: recipe overrides, each known and within `TrainingOverrides`' bounds."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise InvalidRequestError(
                "'config' must be an object of recipe overrides", param="config"
            )
        reserved = {"base_model", "dataset", "name", "output_dir"} & set(raw)
        if reserved:
            raise InvalidRequestError(
                f"'config' cannot set {sorted(reserved)}: the job decides them", param="config"
            )
        renamed = renamed_recipe_keys(raw)
        if renamed is not None:
            key, message = renamed
            raise InvalidRequestError(f"config.{key}: {message}", param=f"config.{key}")
        try:
            overrides = TrainingOverrides.model_validate(raw)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(part) for part in problem["loc"])
            known = (
                ""
                if problem["type"] != "extra_forbidden"
                else (f"; known: {', '.join(TrainingOverrides.model_fields)}")
            )
            raise InvalidRequestError(
                f"config.{field}: {problem['msg']}{known}", param=f"config.{field}"
            ) from None
        return overrides.model_dump(exclude_unset=True)

    def _check_evaluation(self, raw: Any) -> dict[str, Any] | None:
        """`evaluation`: {"file": an `evals` file id, "max_cases": int} or absent."""
        if raw is None:
            return None
        if not isinstance(raw, dict) or set(raw) - {"file", "max_cases"}:
            raise InvalidRequestError(
                '\'evaluation\' must be {"file": "file-...", "max_cases": N}',
                param="evaluation",
            )
        file_id = raw.get("file")
        if not isinstance(file_id, str):
            raise InvalidRequestError(
                "'evaluation.file' must be the id of a file uploaded with purpose 'evals'",
                param="evaluation.file",
            )
        self.files.path(file_id, "evals", param="evaluation.file")
        max_cases = raw.get("max_cases")
        if max_cases is not None and (
            not isinstance(max_cases, int) or isinstance(max_cases, bool) or max_cases < 1
        ):
            raise InvalidRequestError(
                "'evaluation.max_cases' must be a positive integer", param="evaluation.max_cases"
            )
        return {"file": file_id, "max_cases": max_cases}

    def _check_files(self, body: dict[str, Any]) -> tuple[str, str | None]:
        """The training file (required) and the validation file, both uploaded for fine-tune."""
        training_file = body.get("training_file")
        if not isinstance(training_file, str):
            raise InvalidRequestError("'training_file' must be a file id", param="training_file")
        self.files.path(training_file, "fine-tune", param="training_file")
        validation_file = body.get("validation_file")
        if validation_file is not None:
            if not isinstance(validation_file, str):
                raise InvalidRequestError(
                    "'validation_file' must be a file id", param="validation_file"
                )
            self.files.path(validation_file, "fine-tune", param="validation_file")
        return training_file, validation_file

    @staticmethod
    def _check_suffix(raw: Any) -> str | None:
        """`suffix` goes into the fine-tuned model's name, so it is kept to a safe alphabet."""
        if raw is not None and (not isinstance(raw, str) or not _SUFFIX.match(raw)):
            raise InvalidRequestError(
                "'suffix' must be 1-40 letters, digits, '-' or '_'", param="suffix"
            )
        return raw

    @staticmethod
    def _check_method(raw: Any) -> str:
        """A key of `_METHODS`; OpenAI's {"type": "supervised"} object means the default, qlora."""
        method = raw
        if isinstance(method, dict):
            if method.get("type", "supervised") != "supervised":
                raise InvalidRequestError(
                    "only supervised fine-tuning is supported", param="method"
                )
            method = "qlora"
        if not isinstance(method, str) or method not in _METHODS:
            raise InvalidRequestError(f"'method' must be one of {sorted(_METHODS)}", param="method")
        return method

    @staticmethod
    def _check_seed(raw: Any) -> int | None:
        """`seed`: absent, or an integer the trainer's RNGs accept (0 to 2^32-1)."""
        if raw is not None and (
            not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw < 2**32
        ):
            raise InvalidRequestError("'seed' must be an integer from 0 to 2^32-1", param="seed")
        return raw

    def create(self, body: dict[str, Any]) -> FineTuningJob:
        """Validate a job request, record it as queued, and send it to the `train` queue."""
        model = self._check_model(body.get("model"))
        training_file, validation_file = self._check_files(body)
        evaluation = self._check_evaluation(body.get("evaluation"))
        suffix = self._check_suffix(body.get("suffix"))
        method = self._check_method(body.get("method", "qlora"))
        config = self._check_config(body.get("config"))
        config.setdefault("quantization", _METHODS[method])
        seed = self._check_seed(body.get("seed"))
        if seed is not None:
            config["seed"] = seed
        knowledge_base = body.get("knowledge_base")
        if knowledge_base is not None:
            check_kb_name(knowledge_base, param="knowledge_base")

        job_id = new_job_id()
        base_short = re.sub(r"[^A-Za-z0-9._-]", "-", Path(model).name)[:40] or "base"
        record = self.store.create(
            {
                "id": job_id,
                "model": model,
                "training_file": training_file,
                "validation_file": validation_file,
                "hyperparameters": self._check_hyperparameters(body.get("hyperparameters")),
                "suffix": suffix,
                "seed": seed,
                "method": {"type": "supervised"},
                "training_method": method,
                "quantization": config["quantization"],
                "knowledge_base": knowledge_base,
                "evaluation": evaluation,
                "config": config,
                "fine_tuned_model_name": f"ft:{base_short}:{suffix or 'finerag'}:{job_id[-8:]}",
                "organization_id": "finerag",
                "result_files": [],
                "trained_tokens": None,
                "last_checkpoint_step": None,
                "metrics": {},
                "integrations": [],
            }
        )
        self.celery.send_task(TRAIN_TASK, args=[job_id], queue=TRAIN_QUEUE)
        return public_job(record)

    def job(self, job_id: str) -> FineTuningJob:
        """One job; NotFoundError when there is none."""
        return public_job(self.store.get(job_id))

    def list_jobs(self, *, after: str | None, limit: int) -> CursorPage[FineTuningJob]:
        """Jobs, newest first, `limit` of them after the job `after`."""
        jobs, has_more = self.store.list_jobs(after=after, limit=limit)
        return CursorPage[FineTuningJob](data=[public_job(j) for j in jobs], has_more=has_more)

    def cancel(self, job_id: str) -> FineTuningJob:
        """Ask a job to stop (ConflictError when it has finished already)."""
        self.store.request_cancel(job_id)
        return self.job(job_id)

    def events(self, job_id: str, *, limit: int) -> CursorPage[FineTuningJobEvent]:
        """The newest `limit` events, newest first."""
        events = self.store.events(job_id, limit=limit)
        data = [FineTuningJobEvent.model_validate(e) for e in events]
        return CursorPage[FineTuningJobEvent](data=data, has_more=False)

    def checkpoints(self, job_id: str) -> CursorPage[FineTuningJobCheckpoint]:
        """Saved checkpoints, newest first."""
        checkpoints = self.store.checkpoints(job_id)
        data = [FineTuningJobCheckpoint.model_validate(c) for c in checkpoints]
        return CursorPage[FineTuningJobCheckpoint](data=data, has_more=False)

    def save_file(self, data: bytes, filename: str, purpose: str) -> FileObject:
        """Validate an upload for its purpose and store it."""
        return FileObject.model_validate(self.files.save(data, filename, purpose))

    def file(self, file_id: str) -> FileObject:
        """One file's metadata; NotFoundError when there is none."""
        return FileObject.model_validate(self.files.get(file_id))

    def list_files(self) -> ListPage[FileObject]:
        """Every file, newest first."""
        return ListPage[FileObject](
            data=[FileObject.model_validate(f) for f in self.files.list_files()]
        )


def public_job(record: dict[str, Any]) -> FineTuningJob:
    """The record as the API returns it (its internal fields are not in the model)."""
    return FineTuningJob.model_validate(record)
