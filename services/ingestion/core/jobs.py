"""Ingestion job records in Redis: status, counts, per-document outcomes, per-file errors.

A job is created by the API (status `queued`), run by the worker (`running`), and ends
`succeeded` (every readable file stored; unreadable ones listed in `errors`) or `failed`
(retrieval stayed down, or no file could be read). A task that runs twice (redelivered after
a worker died) re-reads the record and merges into it, so counts describe the job, not the try.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any, Literal

import redis
from pydantic import BaseModel, Field

from services.ingestion.core.pipeline import DocumentResult, FileError, IngestItem, Outcome
from shared.contracts.errors import NotFoundError

JobStatus = Literal["queued", "running", "succeeded", "failed"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed"})
JOB_TTL_S = 7 * 24 * 3600
_KEY = "finerag:ingestion:job:{}"


def upload_dir(data_dir: Path, job_id: str) -> Path:
    """Where a job's uploaded files wait for the worker (the API and worker share data_dir)."""
    return data_dir / "uploads" / job_id


def new_job_id() -> str:
    """A fresh ingestion job id."""
    return f"ingjob-{secrets.token_hex(8)}"


class JobCounts(BaseModel):
    """Tallies of a job, derived from its documents and errors."""

    files: int = 0
    documents: int = 0
    ingested: int = 0
    unchanged: int = 0
    failed_files: int = 0
    chunks_written: int = 0


class JobDocument(BaseModel):
    """One document's outcome in a job."""

    doc_id: str
    file: str
    version: str
    status: Outcome
    chunks: int


class JobError(BaseModel):
    """One file that could not be ingested."""

    file: str
    message: str
    code: str


class StoredItem(BaseModel):
    """What the worker needs to read an item again (never returned to callers)."""

    name: str
    path: str | None = None
    text: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_item(self) -> IngestItem:
        """The pipeline's view of this item."""
        path = Path(self.path) if self.path else None
        return IngestItem(self.name, path=path, text=self.text, metadata=self.metadata)


class IngestionJob(BaseModel):
    """The public record of an ingestion job."""

    id: str
    object: Literal["ingestion.job"] = "ingestion.job"
    kb: str
    status: JobStatus = "queued"
    created_at: int = Field(default_factory=lambda: int(time.time()))
    started_at: int | None = None
    finished_at: int | None = None
    attempts: int = 0
    files: list[str] = Field(default_factory=list)
    counts: JobCounts = Field(default_factory=JobCounts)
    documents: list[JobDocument] = Field(default_factory=list)
    errors: list[JobError] = Field(default_factory=list)
    error: str | None = Field(None, description="Why the job failed as a whole.")

    def record_document(self, result: DocumentResult) -> None:
        """Add or update a document's outcome (an earlier try's 'ingested' is kept)."""
        entry = JobDocument(
            doc_id=result.doc_id,
            file=result.file,
            version=result.version,
            status=result.outcome,
            chunks=result.chunks,
        )
        for position, known in enumerate(self.documents):
            if known.doc_id == result.doc_id:
                if known.status == Outcome.INGESTED and known.version == result.version:
                    return
                self.documents[position] = entry
                break
        else:
            self.documents.append(entry)
        self.errors = [e for e in self.errors if e.file != result.file]
        self._recount()

    def record_error(self, error: FileError) -> None:
        """Add or replace the error of a file."""
        self.errors = [e for e in self.errors if e.file != error.file]
        self.errors.append(JobError(file=error.file, message=error.message, code=error.code))
        self._recount()

    def _recount(self) -> None:
        self.counts = JobCounts(
            files=len(self.files),
            documents=len(self.documents),
            ingested=sum(d.status == Outcome.INGESTED for d in self.documents),
            unchanged=sum(d.status == Outcome.UNCHANGED for d in self.documents),
            failed_files=len(self.errors),
            chunks_written=sum(d.chunks for d in self.documents if d.status == Outcome.INGESTED),
        )


class JobStore:
    """Ingestion jobs and their items, as JSON in Redis (kept for a week)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        """A store on the Redis at `url`."""
        return cls(redis.Redis.from_url(url))

    def ping(self) -> None:
        """Raise if Redis does not answer."""
        self._redis.ping()

    def create(self, job: IngestionJob, items: list[StoredItem]) -> None:
        """Write a new job and the items it will ingest."""
        job.files = [item.name for item in items]
        job.counts = JobCounts(files=len(items))
        payload = [item.model_dump(mode="json") for item in items]
        pipe = self._redis.pipeline()
        pipe.set(_KEY.format(job.id) + ":items", _dumps(payload), ex=JOB_TTL_S)
        pipe.set(_KEY.format(job.id), job.model_dump_json(), ex=JOB_TTL_S)
        pipe.execute()

    def get(self, job_id: str) -> IngestionJob:
        """A job by id (404 when unknown or expired)."""
        raw = self._redis.get(_KEY.format(job_id))
        if raw is None:
            raise NotFoundError(f"ingestion job {job_id!r} does not exist", param="job_id")
        return IngestionJob.model_validate_json(raw)

    def items(self, job_id: str) -> list[StoredItem]:
        """The items of a job."""
        raw = self._redis.get(_KEY.format(job_id) + ":items")
        if raw is None:
            raise NotFoundError(f"ingestion job {job_id!r} has no items", param="job_id")
        return [StoredItem.model_validate(item) for item in json.loads(raw)]

    def save(self, job: IngestionJob) -> None:
        """Overwrite a job's record (one task writes a job at a time)."""
        self._redis.set(_KEY.format(job.id), job.model_dump_json(), ex=JOB_TTL_S)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
