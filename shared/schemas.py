"""Wire schemas that cross services: chunks, search requests and hits, the evaluation format."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class SearchRequest(BaseModel):
    """`POST /v1/collections/{kb}/search`."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int = Field(5, ge=1, le=100)
    mode: SearchMode = "hybrid"
    filter: dict[str, Any] | None = Field(
        None, description="Payload equality filter, e.g. {'doc_id': 'pricing.md'}."
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
