"""Wire schemas that cross services: chunks, search requests and hits, the evaluation format,
and the bodies of the fine-tuning API (jobs, their events and checkpoints, files) that the
gateway serves, the trainer's records fill and the CLI reads.

A response field typed `... | MISSING` is left out of the JSON unless it was given, as OpenAI's
own bodies leave such keys out rather than send null.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import MISSING, AfterValidator, BaseModel, ConfigDict, Field

SearchMode = Literal["hybrid", "dense", "sparse"]
QuestionType = Literal["factual", "unanswerable", "multi_hop", "arithmetic"]

MAX_QUERY_CHARS = 2000


def content_hash(text: str | bytes) -> str:
    """The version of a document or dataset: sha256 of its content, first 16 hex digits."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


class Chunk(BaseModel):
    """A piece of a document, the unit that is embedded, searched and cited."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Stable id: derived from kb, doc id, doc version and position.")
    kb: str = Field(description="Knowledge base (one Qdrant collection).")
    doc_id: str = Field(description="Document id: its path relative to the folder ingested.")
    doc_version: str = Field(description="Content hash of the document this chunk came from.")
    source: str = Field(description="Where the document came from (file name or URL).")
    title: str = ""
    section: str = Field("", description="Heading path or page ('p. 3') of the chunk.")
    text: str
    position: int = Field(ge=0, description="Order of the chunk within its document.")
    tags: list[str] = Field(default_factory=list)


MAX_FILTER_VALUES = 64
# Chunks one write to the retrieval service may carry; a document is always written whole.
MAX_CHUNKS_PER_UPSERT = 5000


def _check_filter(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Payload fields are strings or string lists: a filter value is a string or a list of them."""
    for key, wanted in (value or {}).items():
        many = isinstance(wanted, list)
        values = wanted if many else [wanted]
        if not all(isinstance(v, str) for v in values) or (
            many and not 0 < len(values) <= MAX_FILTER_VALUES
        ):
            raise ValueError(
                f"filter.{key} must be a string or a list of 1 to {MAX_FILTER_VALUES} strings"
            )
    return value


class SearchRequest(BaseModel):
    """`POST /v1/collections/{kb}/search`."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int = Field(5, ge=1, le=100)
    mode: SearchMode = "hybrid"
    filter: Annotated[dict[str, Any] | None, AfterValidator(_check_filter)] = Field(
        None,
        description="Payload equality filter: a string, or a list of strings meaning any of them, "
        "e.g. {'doc_id': 'pricing.md', 'tags': ['billing', 'refunds']}.",
    )
    score_threshold: float | None = None


class SearchHit(BaseModel):
    """One search result, enough to cite it."""

    chunk_id: str
    doc_id: str
    source: str
    section: str = ""
    title: str = ""
    text: str
    score: float


class SearchResponse(BaseModel):
    """The answer to a search."""

    hits: list[SearchHit]


class SubtaskQuantity(BaseModel):
    """A number a calculation needs, as its document writes it."""

    name: str
    text: str = Field(description="As written in the document: `$149`, `2.4 kg`, `24 months`.")
    doc_id: str


class AgentSubtasks(BaseModel):
    """What an agent asked this question should do: the parts of a multi-hop question, the
    quantities and calculation of an arithmetic one (`shared.contracts.agent_prompts` formats)."""

    sub_questions: list[str] = Field(default_factory=list)
    quantities: list[SubtaskQuantity] = Field(default_factory=list)
    calculation: str | None = None


class QACase(BaseModel):
    """One line of the evaluation format (also a dataset builder input)."""

    id: str
    question: str
    answer: str | None = Field(description="Reference answer; null when the KB does not say.")
    source_ids: list[str] = Field(default_factory=list, description="Doc ids holding the answer.")
    type: QuestionType
    variants: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Customer-style rewordings: {'kind': 'typo'|'paraphrase'|'terse'|"
        "'follow_up', 'question', 'turns'?}.",
    )
    subtasks: AgentSubtasks | None = Field(
        None, description="The agents' steps for this question, when known (dataset sub-tasks)."
    )


# --- fine-tuning job configuration (gateway -> trainer) -----------------------------------------
Quantization = Literal["4bit", "none"]
LrScheduler = Literal["cosine", "linear", "constant_with_warmup"]
Optimizer = Literal["auto", "adamw_torch", "paged_adamw_8bit"]
PackingStrategy = Literal["bfd", "bfd_split"]
_MODULE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"

# Recipe keys that took the name TRL gives the same knob (trl.SFTConfig, the
# transformers.TrainingArguments it extends, trl.ModelConfig). An old name is refused with its
# new one, never read as it: a config that still says `warmup_ratio` is a config to look at.
RENAMED_RECIPE_KEYS: dict[str, str] = {
    "max_seq_len": "max_length",
    "per_device_batch_size": "per_device_train_batch_size",
    "lr_scheduler": "lr_scheduler_type",
    "warmup_ratio": "warmup_steps",
    "num_epochs": "num_train_epochs",
    "optimizer": "optim",
    "precision": "bf16",
    "target_modules": "lora_target_modules",
}
_RENAMED_VALUES = {
    "warmup_ratio": "a value below 1 is a share of the steps, as warmup_ratio was",
    "precision": "true, false or auto: precision=bf16 is bf16=true, precision=fp32 is bf16=false",
}


def renamed_recipe_keys(keys: Iterable[str]) -> tuple[str, str] | None:
    """The first of `keys` that is an old recipe key, and a message that names the new ones."""
    old = [key for key in keys if key in RENAMED_RECIPE_KEYS]
    if not old:
        return None
    messages = []
    for key in old:
        note = f" ({_RENAMED_VALUES[key]})" if key in _RENAMED_VALUES else ""
        messages.append(f"{key} was renamed {RENAMED_RECIPE_KEYS[key]}{note}")
    return old[0], "; ".join(messages)


class TrainingOverrides(BaseModel):
    """`config` of `POST /v1/fine_tuning/jobs`: the recipe's knobs a caller may set, bounded.

    The names are the recipe's (`services/trainer/config.py`: TRL's where TRL has the knob). The
    bounds are what one job on one server may ask for (the trainer's own config allows more from
    the command line). Any other key, a value of the wrong type or out of range is a 400 before
    the job is queued; the trainer validates the whole config again before training. Where the
    logs go (`report_to`) is the server's config, not a job's: an integration needs the server's
    credentials.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    quantization: Quantization | None = None
    lora_r: int | None = Field(None, ge=1, le=256)
    lora_alpha: int | None = Field(None, ge=1, le=1024)
    lora_dropout: float | None = Field(None, ge=0.0, lt=1.0)
    lora_layers: int | None = Field(None, ge=1, le=256)
    lora_target_modules: (
        Annotated[str, Field(pattern=_MODULE_NAME)]
        | Annotated[list[Annotated[str, Field(pattern=_MODULE_NAME)]], Field(max_length=16)]
        | None
    ) = None
    max_length: int | None = Field(None, ge=16, le=32768)
    packing: bool | None = None
    packing_strategy: PackingStrategy | None = None
    completion_only_loss: bool | None = None
    per_device_train_batch_size: int | None = Field(None, ge=1, le=64)
    per_device_eval_batch_size: int | None = Field(None, ge=1, le=64)
    gradient_accumulation_steps: int | None = Field(None, ge=1, le=256)
    learning_rate: float | None = Field(None, gt=0.0, le=0.1)
    lr_scheduler_type: LrScheduler | None = None
    warmup_steps: float | None = Field(None, ge=0.0, le=100_000)
    weight_decay: float | None = Field(None, ge=0.0, le=1.0)
    max_grad_norm: float | None = Field(None, gt=0.0, le=100.0)
    num_train_epochs: float | None = Field(None, gt=0.0, le=50.0)
    max_steps: int | None = Field(None, ge=-1, le=100_000)
    optim: Optimizer | None = None
    bf16: bool | Literal["auto"] | None = None
    gradient_checkpointing: bool | Literal["auto"] | None = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    data_seed: int | None = Field(None, ge=0, le=2**32 - 1)
    eval_steps: int | None = Field(None, ge=1, le=100_000)
    save_steps: int | None = Field(None, ge=1, le=100_000)
    save_total_limit: int | None = Field(None, ge=1, le=20)
    logging_steps: int | None = Field(None, ge=1, le=100_000)
    early_stopping_patience: int | None = Field(None, ge=0, le=100)


# --- the fine-tuning API's bodies (gateway -> callers; the CLI reads them) ----------------------
JobStatus = Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
EventLevel = Literal["info", "warn", "error"]
FilePurpose = Literal["fine-tune", "evals"]
Item = TypeVar("Item")


class ListPage(BaseModel, Generic[Item]):
    """OpenAI's list body: `{"object": "list", "data": [...]}`."""

    object: Literal["list"] = "list"
    data: list[Item]


class CursorPage(ListPage[Item], Generic[Item]):
    """A page of a list that takes `after` and `limit`."""

    has_more: bool = Field(description="Whether items follow this page (pass `after`).")


class JobError(BaseModel):
    """Why a job failed."""

    code: str
    message: str
    param: str | None = Field(description="The request field at fault, if one is.")
    trace: str | MISSING = Field(
        MISSING, description="FineRAG: the exception's last line, when the failure was ours."
    )


class Hyperparameters(BaseModel):
    """The job's hyperparameters; "auto" leaves the recipe's value."""

    n_epochs: Literal["auto"] | int
    batch_size: Literal["auto"] | int
    learning_rate_multiplier: Literal["auto"] | float = Field(
        description="Scales the recipe's learning rate."
    )


class JobMethod(BaseModel):
    """OpenAI's `method`: FineRAG runs supervised fine-tuning only."""

    type: Literal["supervised"]


class JobEvaluation(BaseModel):
    """FineRAG: the questions the tuned model is evaluated on before it may be promoted."""

    file: str = Field(description="Id of a file uploaded with purpose `evals`.")
    max_cases: int | None = Field(description="Evaluate on at most this many cases.")


class FineTuningJob(BaseModel):
    """A `fine_tuning.job`: OpenAI's job object plus FineRAG's fields.

    Built from the job record in Redis; the record's internal fields (`worker`,
    `fine_tuned_model_name`) are not part of it. Fields are in the record's order.
    """

    id: str = Field(description="`ftjob-` and 24 hex digits.")
    model: str = Field(description="The base model being fine-tuned.")
    training_file: str
    validation_file: str | None
    hyperparameters: Hyperparameters
    suffix: str | None = Field(description="Part of the fine-tuned model's name.")
    seed: int | None = Field(description="The training seed the caller asked for, if any.")
    method: JobMethod
    training_method: Literal["qlora", "lora"] = Field(
        description="FineRAG: QLoRA (4-bit base) or LoRA (unquantized base)."
    )
    quantization: Quantization = Field(description="FineRAG: how the base model is loaded.")
    knowledge_base: str | None = Field(
        description="FineRAG: the knowledge base the model is trained to answer from."
    )
    evaluation: JobEvaluation | None
    config: dict[str, Any] = Field(
        description="FineRAG: the recipe overrides the job runs with (`TrainingOverrides`)."
    )
    organization_id: str
    result_files: list[str]
    trained_tokens: int | None = Field(description="Tokens trained on, once the job succeeded.")
    last_checkpoint_step: int | None = Field(
        description="FineRAG: the step of the newest checkpoint, where a retry resumes."
    )
    metrics: dict[str, Any] = Field(description="FineRAG: the training run's final metrics.")
    integrations: list[dict[str, Any]]
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    status: JobStatus
    attempts: int = Field(description="FineRAG: training attempts started so far.")
    error: JobError | None
    fine_tuned_model: str | None = Field(description="The model's name once it is published.")
    finished_at: int | None
    promoted: bool | MISSING = Field(
        MISSING, description="FineRAG: whether the release gate promoted the published model."
    )
    release_gate: dict[str, Any] | MISSING | None = Field(
        MISSING, description="FineRAG: the release gate's verdict, rule by rule."
    )


class FineTuningJobEvent(BaseModel):
    """A `fine_tuning.job.event`: a status change, a message, or a step's metrics."""

    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    id: str
    created_at: int
    level: EventLevel
    message: str
    data: dict[str, Any] = Field(
        description="The new status, or the step's metrics (step, loss, eval loss, tokens/s, ETA)."
    )
    type: Literal["message", "metrics"]
    fencing_token: int | MISSING = Field(
        MISSING, description="FineRAG: the lease of the worker attempt that wrote the event."
    )


class FineTuningJobCheckpoint(BaseModel):
    """A `fine_tuning.job.checkpoint`; the record's `path` (a server folder) is not part of it."""

    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    id: str
    created_at: int
    fine_tuning_job_id: str
    step_number: int
    metrics: dict[str, float] = Field(description="Metrics at the step, e.g. `train_loss`.")
    fencing_token: int = Field(
        description="FineRAG: the lease of the worker attempt that saved the checkpoint."
    )


class FileObject(BaseModel):
    """A `file`: an uploaded JSONL file, validated line by line before it is stored."""

    id: str = Field(description="`file-` and 24 hex digits.")
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: FilePurpose = Field(
        description="`fine-tune`: chat JSONL to train on; `evals`: evaluation-format questions."
    )
    status: Literal["processed"]
    conversations: int | MISSING = Field(
        MISSING, description="FineRAG: conversations in a `fine-tune` file."
    )
    cases: int | MISSING = Field(MISSING, description="FineRAG: questions in an `evals` file.")
