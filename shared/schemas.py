"""Wire schemas that cross services: chunks, search requests and hits, the evaluation format."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


# --- fine-tuning job configuration (gateway -> trainer) -----------------------------------------
Quantization = Literal["4bit", "none"]
LrScheduler = Literal["cosine", "linear", "constant_with_warmup"]
Optimizer = Literal["auto", "adamw_torch", "paged_adamw_8bit"]
Precision = Literal["auto", "bf16", "fp32"]
AutoToggle = Literal["auto", "on", "off"]
_MODULE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class TrainingOverrides(BaseModel):
    """`config` of `POST /v1/fine_tuning/jobs`: the recipe's knobs a caller may set, bounded.

    The bounds are what one job on one server may ask for (the trainer's own config allows
    more from the command line). Any other key, a value of the wrong type or out of range is a
    400 before the job is queued; the trainer validates the whole config again before training.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    quantization: Quantization | None = None
    lora_r: int | None = Field(None, ge=1, le=256)
    lora_alpha: int | None = Field(None, ge=1, le=1024)
    lora_dropout: float | None = Field(None, ge=0.0, lt=1.0)
    lora_layers: int | None = Field(None, ge=1, le=256)
    target_modules: (
        Annotated[str, Field(pattern=_MODULE_NAME)]
        | Annotated[list[Annotated[str, Field(pattern=_MODULE_NAME)]], Field(max_length=16)]
        | None
    ) = None
    max_seq_len: int | None = Field(None, ge=16, le=32768)
    packing: bool | None = None
    per_device_batch_size: int | None = Field(None, ge=1, le=64)
    gradient_accumulation_steps: int | None = Field(None, ge=1, le=256)
    learning_rate: float | None = Field(None, gt=0.0, le=0.1)
    lr_scheduler: LrScheduler | None = None
    warmup_ratio: float | None = Field(None, ge=0.0, lt=1.0)
    weight_decay: float | None = Field(None, ge=0.0, le=1.0)
    max_grad_norm: float | None = Field(None, gt=0.0, le=100.0)
    num_epochs: float | None = Field(None, gt=0.0, le=50.0)
    max_steps: int | None = Field(None, ge=-1, le=100_000)
    optimizer: Optimizer | None = None
    precision: Precision | None = None
    gradient_checkpointing: AutoToggle | None = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    eval_steps: int | None = Field(None, ge=1, le=100_000)
    save_steps: int | None = Field(None, ge=1, le=100_000)
    save_total_limit: int | None = Field(None, ge=1, le=20)
    logging_steps: int | None = Field(None, ge=1, le=100_000)
    early_stopping_patience: int | None = Field(None, ge=0, le=100)
