"""Ingest documents into a knowledge base: parse, chunk, upsert new versions, drop old ones.

Idempotent and versioned: a document's version is the content hash of what it was read from.
A document whose stored chunks are exactly this version is skipped (nothing is written). A
changed document's new chunks are written first and its old version's deleted after, so a
search sees the old or the new document, never half of one. Chunks of several documents are
embedded together (one upsert call per `UPSERT_CHUNKS`), which keeps the embedder's batches full.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from services.ingestion.core.chunking import Chunker
from services.ingestion.core.documents import ParsedDocument
from services.ingestion.core.parsing import parse_file, parse_record
from services.ingestion.core.retrying import RetryPolicy
from shared.contracts.errors import FineRAGError, NotFoundError
from shared.contracts.schemas import MAX_CHUNKS_PER_UPSERT, Chunk
from shared.infrastructure.retrieval_client import DocumentInfo, RetrievalClient

log = logging.getLogger("finerag.ingestion")

# Chunks sent to retrieval per upsert call (two of the embedder's default batches).
UPSERT_CHUNKS = 128


class Outcome(StrEnum):
    """What happened to one document."""

    INGESTED = "ingested"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class IngestItem:
    """One thing to ingest: a file on disk (`path`), or a text document (`text`)."""

    name: str
    path: Path | None = None
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentResult:
    """A document that is now in the knowledge base at `version`, with `chunks` chunks."""

    file: str
    doc_id: str
    version: str
    outcome: Outcome
    chunks: int


@dataclass(frozen=True)
class FileError:
    """A file (or one document of it) that could not be ingested, and why."""

    file: str
    message: str
    code: str


class IngestionObserver(Protocol):
    """Told about each document as soon as its outcome is final."""

    def document_done(self, result: DocumentResult) -> None:
        """The document is stored (or was already)."""

    def file_failed(self, error: FileError) -> None:
        """The file could not be read or stored."""


@dataclass
class IngestionReport:
    """Everything a run produced, in the order it happened."""

    documents: list[DocumentResult] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)

    def document_done(self, result: DocumentResult) -> None:
        """Record a stored document."""
        self.documents.append(result)

    def file_failed(self, error: FileError) -> None:
        """Record a failed file."""
        self.errors.append(error)


def chunk_id(kb: str, doc_id: str, version: str, position: int) -> str:
    """The stable id of a chunk: same kb, document, version and position → same id."""
    return f"{kb}/{doc_id}@{version}#{position}"


def read_item(item: IngestItem) -> list[ParsedDocument]:
    """Parse an item into its documents (raises per-file errors)."""
    if item.text is not None:
        return [parse_record(item.name, item.text, item.metadata)]
    if item.path is None:
        raise ValueError(f"ingest item {item.name!r} has neither a path nor a text")
    return parse_file(item.name, item.path.read_bytes())


@dataclass
class _Pending:
    file: str
    document: ParsedDocument
    chunks: list[Chunk]


class Ingestor:
    """The ingestion core: turns files into stored, searchable, versioned chunks."""

    def __init__(
        self,
        retrieval: RetrievalClient,
        chunker: Chunker,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retrieval = retrieval
        self.chunker = chunker
        self.retry = retry or RetryPolicy()

    def build_chunks(self, kb: str, document: ParsedDocument) -> list[Chunk]:
        """The chunks of a parsed document, with stable ids and citation metadata."""
        return [
            Chunk(
                id=chunk_id(kb, document.doc_id, document.version, position),
                kb=kb,
                doc_id=document.doc_id,
                doc_version=document.version,
                source=document.source,
                title=document.title,
                section=piece.section,
                text=piece.text,
                position=position,
                tags=document.tags,
            )
            for position, piece in enumerate(self.chunker.chunk_sections(document.sections))
        ]

    def _stored_documents(self, kb: str) -> dict[str, DocumentInfo]:
        try:
            docs = self.retry.call("list documents", self.retrieval.list_documents, kb)
        except NotFoundError:
            return {}
        return {doc.doc_id: doc for doc in docs}

    def ingest(
        self,
        kb: str,
        items: Iterable[IngestItem],
        observer: IngestionObserver | None = None,
    ) -> IngestionReport:
        """Ingest every item; a bad file is reported and skipped, the others go on.

        Raises:
            ServiceUnavailableError: retrieval stayed down through every retry; documents
                already reported done are stored, no other document is reported.
        """
        report = IngestionReport()
        observers: list[IngestionObserver] = [report] + ([observer] if observer else [])
        stored = self._stored_documents(kb)
        batch: list[_Pending] = []
        for item in items:
            try:
                documents = read_item(item)
            except FineRAGError as exc:
                for each in observers:
                    each.file_failed(FileError(item.name, exc.message, exc.code))
                continue
            for document in documents:
                chunks = self.build_chunks(kb, document)
                known = stored.get(document.doc_id)
                if known is not None and known.versions == {document.version: len(chunks)}:
                    result = DocumentResult(
                        item.name, document.doc_id, document.version, Outcome.UNCHANGED, len(chunks)
                    )
                    for each in observers:
                        each.document_done(result)
                    continue
                if len(chunks) > MAX_CHUNKS_PER_UPSERT:
                    message = (
                        f"{document.doc_id} makes {len(chunks)} chunks; a document is stored in "
                        f"one write of at most {MAX_CHUNKS_PER_UPSERT} (raise the chunk size)"
                    )
                    for each in observers:
                        each.file_failed(FileError(item.name, message, "document_too_large"))
                    continue
                batch.append(_Pending(item.name, document, chunks))
                if sum(len(p.chunks) for p in batch) >= UPSERT_CHUNKS:
                    self._write(kb, batch, observers)
                    batch = []
        if batch:
            self._write(kb, batch, observers)
        return report

    def _write(
        self,
        kb: str,
        batch: Sequence[_Pending],
        observers: Sequence[IngestionObserver],
    ) -> None:
        """Store whole documents in one write that replaces everything else they had.

        Readers see each document's old chunks until the write commits and its new ones after,
        never both nor neither (positions past a shorter version's end go in the same step).
        """
        chunks = [chunk for pending in batch for chunk in pending.chunks]
        self.retry.call(
            f"upsert {len(chunks)} chunks of {len(batch)} documents",
            self.retrieval.upsert_chunks,
            kb,
            chunks,
            replace_documents=True,
        )
        for pending in batch:
            doc = pending.document
            result = DocumentResult(
                pending.file, doc.doc_id, doc.version, Outcome.INGESTED, len(pending.chunks)
            )
            log.info("document ingested", extra={"doc_id": doc.doc_id, "chunks": result.chunks})
            for each in observers:
                each.document_done(result)


def delete_document(retrieval: RetrievalClient, kb: str, doc_id: str) -> int:
    """Remove a document from a knowledge base; 404 when it holds no such document."""
    deleted = retrieval.delete_document(kb, doc_id)
    if not deleted:
        raise NotFoundError(f"document {doc_id!r} is not in knowledge base {kb!r}", param="doc_id")
    return deleted
