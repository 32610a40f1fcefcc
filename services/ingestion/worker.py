"""The ingestion worker: a Celery app on the Redis broker, consuming queue `ingest`.

Run it with `finerag serve ingestion-worker` (or `celery -A services.ingestion.worker worker
-Q ingest`). Tasks carry a job id only; the task re-reads the job from Redis, so a task that is
redelivered after its worker died (acks late) resumes the job instead of starting another.
"""

from __future__ import annotations

import logging
import shutil
import time
from functools import lru_cache

from services.ingestion.core.chunking import Chunker
from services.ingestion.core.jobs import TERMINAL, IngestionJob, JobStore, upload_dir
from services.ingestion.core.pipeline import DocumentResult, FileError, Ingestor
from services.ingestion.core.retrying import RetryPolicy
from services.ingestion.core.tokens import load_token_counter
from services.ingestion.queue import create_celery
from services.ingestion.retrieval import connect_retrieval
from shared.contracts.errors import FineRAGError
from shared.contracts.queues import INGEST_TASK
from shared.infrastructure.logs import bind
from shared.infrastructure.settings import Settings, get_settings

log = logging.getLogger("finerag.ingestion.worker")


celery_app = create_celery(get_settings())


class JobRecorder:
    """Writes each document's outcome into the job record as it happens."""

    def __init__(self, store: JobStore, job: IngestionJob) -> None:
        self._store = store
        self.job = job

    def document_done(self, result: DocumentResult) -> None:
        """Record a stored document."""
        self.job.record_document(result)
        self._store.save(self.job)

    def file_failed(self, error: FileError) -> None:
        """Record a failed file."""
        self.job.record_error(error)
        self._store.save(self.job)


@lru_cache(maxsize=1)
def _ingestor() -> Ingestor:
    """One ingestor per worker process: the tokenizer is loaded once."""
    settings = get_settings()
    chunker = Chunker(
        load_token_counter(settings.embedding_model),
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
    )
    client = connect_retrieval(settings)
    retry = RetryPolicy(settings.ingest_retry_attempts, settings.ingest_retry_backoff_s)
    return Ingestor(client, chunker, retry=retry)


def run_job(job_id: str, store: JobStore, ingestor: Ingestor, settings: Settings) -> IngestionJob:
    """Run (or resume) one ingestion job to a terminal status."""
    job = store.get(job_id)
    if job.status in TERMINAL:
        log.info("job already finished", extra={"status": job.status})
        return job
    job.status = "running"
    job.attempts += 1
    job.started_at = job.started_at or int(time.time())
    store.save(job)
    recorder = JobRecorder(store, job)
    try:
        items = [item.to_item() for item in store.items(job_id)]
        ingestor.ingest(job.kb, items, recorder)
    except FineRAGError as exc:
        job.status, job.error = "failed", exc.message
        log.error("ingestion job failed", extra={"error": exc.message})
    else:
        nothing_stored = not job.documents and bool(job.errors)
        job.status = "failed" if nothing_stored else "succeeded"
        if nothing_stored:
            job.error = "no file could be ingested; see errors"
    job.finished_at = int(time.time())
    store.save(job)
    shutil.rmtree(upload_dir(settings.data_dir, job_id), ignore_errors=True)
    return job


@celery_app.task(name=INGEST_TASK)
def ingest_documents(job_id: str) -> str:
    """Celery entry point: run an ingestion job by id; returns its final status."""
    settings = get_settings()
    with bind(job_id=job_id):
        job = run_job(job_id, JobStore.from_url(settings.redis_url), _ingestor(), settings)
    return job.status
