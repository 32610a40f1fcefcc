"""`/v1/knowledge-bases/{kb}/documents`: upload documents (queued as a job), list, delete."""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Request, status
from kombu.exceptions import OperationalError
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from services.ingestion.api.deps import ContextDep
from services.ingestion.api.uploads import save_uploads, too_large
from services.ingestion.core.jobs import IngestionJob, StoredItem, new_job_id, upload_dir
from services.ingestion.core.pipeline import delete_document as delete_stored_document
from shared.contracts.errors import (
    InvalidRequestError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
)
from shared.contracts.names import check_kb_name
from shared.contracts.queues import INGEST_QUEUE, INGEST_TASK

router = APIRouter(prefix="/v1/knowledge-bases", tags=["documents"])

JOBS_QUEUED = Counter("finerag_ingestion_jobs_queued_total", "Ingestion jobs accepted.")
FILES_QUEUED = Counter("finerag_ingestion_files_queued_total", "Files and text documents queued.")


class TextDocument(BaseModel):
    """`POST .../documents` with JSON: one document given as text."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str = Field(min_length=1, max_length=512)
    text: str = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)


async def _read_items(request: Request, context: ContextDep, job_id: str) -> list[StoredItem]:
    limit = context.settings.max_upload_bytes  # the service guard has bounded the body
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form(max_files=10_000, max_part_size=limit) as form:
            files = [value for value in form.getlist("files") if not isinstance(value, str)]
            folder = upload_dir(context.settings.data_dir, job_id)
            try:
                return await save_uploads(files, folder, limit)
            except Exception:
                shutil.rmtree(folder, ignore_errors=True)
                raise
    if content_type == "application/json":
        body = await request.body()
        if len(body) > limit:
            raise too_large(limit)
        try:
            document = TextDocument.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(part) for part in first["loc"]) or None
            raise InvalidRequestError(f"{param}: {first['msg']}", param=param) from exc
        return [StoredItem(name=document.doc_id, text=document.text, metadata=document.metadata)]
    raise UnsupportedMediaTypeError(
        f"content type {content_type or 'none'!r} is not accepted: send multipart/form-data "
        "(field 'files') or application/json {'doc_id', 'text', 'metadata'}"
    )


@router.post("/{kb}/documents", status_code=status.HTTP_202_ACCEPTED)
async def upload_documents(kb: str, request: Request, context: ContextDep) -> IngestionJob:
    """Queue files (multipart field `files`) or one JSON text document for ingestion."""
    check_kb_name(kb)
    job = IngestionJob(id=new_job_id(), kb=kb)
    items = await _read_items(request, context, job.id)
    try:  # Redis calls are blocking: keep them off the event loop
        await run_in_threadpool(context.jobs.create, job, items)
        await run_in_threadpool(
            context.celery.send_task, INGEST_TASK, args=[job.id], queue=INGEST_QUEUE
        )
    except (RedisError, OperationalError) as exc:
        shutil.rmtree(upload_dir(context.settings.data_dir, job.id), ignore_errors=True)
        raise ServiceUnavailableError(f"the job queue (Redis) is unavailable: {exc}") from exc
    JOBS_QUEUED.inc()
    FILES_QUEUED.inc(len(items))
    return job


@router.get("/{kb}/documents")
def list_documents(kb: str, context: ContextDep) -> dict[str, Any]:
    """The documents of a knowledge base, with chunk counts per version."""
    check_kb_name(kb)
    docs = context.retrieval.list_documents(kb)
    return {"object": "list", "data": [doc.model_dump() for doc in docs]}


@router.delete("/{kb}/documents/{doc_id:path}")
def delete_document(kb: str, doc_id: str, context: ContextDep) -> dict[str, Any]:
    """Remove a document and all its chunks (404 when the knowledge base does not hold it)."""
    check_kb_name(kb)
    deleted = delete_stored_document(context.retrieval, kb, doc_id)
    return {"doc_id": doc_id, "deleted": True, "chunks": deleted}
