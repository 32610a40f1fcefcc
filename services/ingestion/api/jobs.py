"""`GET /v1/ingestion-jobs/{id}`: status, counts and per-file errors of an ingestion job."""

from __future__ import annotations

from fastapi import APIRouter

from services.ingestion.api.deps import ContextDep
from services.ingestion.core.jobs import IngestionJob

router = APIRouter(prefix="/v1/ingestion-jobs", tags=["jobs"])


@router.get("/{job_id}")
def get_job(job_id: str, context: ContextDep) -> IngestionJob:
    """One ingestion job (404 when unknown or expired)."""
    return context.jobs.get(job_id)
