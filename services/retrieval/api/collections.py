"""Knowledge bases, their chunks and documents: `/v1/collections/...`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from services.retrieval.api.deps import IndexDep
from services.retrieval.api.prometheus import CHUNKS_UPSERTED, POINTS_DELETED
from shared.contracts.errors import NotFoundError
from shared.contracts.schemas import MAX_CHUNKS_PER_UPSERT, Chunk
from shared.infrastructure.retrieval_client import DocumentInfo

router = APIRouter(prefix="/v1/collections", tags=["collections"])


class CreateCollectionRequest(BaseModel):
    """`POST /v1/collections`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)


class UpsertChunksRequest(BaseModel):
    """`PUT /v1/collections/{kb}/chunks`: chunks with their text; embedded server-side."""

    model_config = ConfigDict(extra="forbid")

    chunks: list[Chunk] = Field(max_length=MAX_CHUNKS_PER_UPSERT)
    replace_documents: bool = Field(
        False,
        description="Each document in the request is complete: its other chunks (older "
        "versions, positions past the end) are removed in the same step as these appear.",
    )


@router.get("")
def list_collections(index: IndexDep) -> dict[str, Any]:
    """Every knowledge base with its point count."""
    return {"object": "list", "data": index.list_collections()}


@router.post("", status_code=status.HTTP_201_CREATED)
def create_collection(body: CreateCollectionRequest, index: IndexDep) -> dict[str, Any]:
    """Create an empty knowledge base (idempotent: `created` says whether it was new)."""
    created = index.create_collection(body.name)
    return {"name": body.name, "created": created}


@router.get("/{kb}")
def get_collection(kb: str, index: IndexDep) -> dict[str, Any]:
    """One knowledge base: point and document counts, embedding model."""
    return index.describe_collection(kb)


@router.delete("/{kb}")
def delete_collection(kb: str, index: IndexDep) -> dict[str, Any]:
    """Delete a knowledge base and all its chunks."""
    index.drop_collection(kb)
    return {"name": kb, "deleted": True}


@router.put("/{kb}/chunks")
def upsert_chunks(kb: str, body: UpsertChunksRequest, index: IndexDep) -> dict[str, Any]:
    """Embed and store chunks; creates the knowledge base when it is new."""
    written = index.upsert_chunks(kb, body.chunks, replace_documents=body.replace_documents)
    CHUNKS_UPSERTED.inc(written)
    return {"upserted": written}


@router.get("/{kb}/documents")
def list_documents(kb: str, index: IndexDep) -> dict[str, Any]:
    """The documents of a knowledge base with their chunk counts per version."""
    docs = index.list_documents(kb)
    return {"object": "list", "data": [doc.model_dump() for doc in docs]}


@router.get("/{kb}/documents/{doc_id:path}")
def get_document(kb: str, doc_id: str, index: IndexDep) -> DocumentInfo:
    """One document's chunk counts per version."""
    doc = index.get_document(kb, doc_id)
    if doc is None:
        raise NotFoundError(f"document {doc_id!r} is not in knowledge base {kb!r}", param="doc_id")
    return doc


@router.delete("/{kb}/documents/{doc_id:path}")
def delete_document(
    kb: str, doc_id: str, index: IndexDep, keep_version: str | None = None
) -> dict[str, Any]:
    """Delete a document's chunks: all versions, or all but `keep_version`."""
    deleted = index.delete_document(kb, doc_id, keep_version=keep_version)
    POINTS_DELETED.inc(deleted)
    return {"doc_id": doc_id, "deleted": deleted}
