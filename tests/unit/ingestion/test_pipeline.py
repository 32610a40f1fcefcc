"""The ingestion core against an in-memory retrieval stand-in: versions, order, errors, retries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from services.ingestion.core.chunking import Chunker
from services.ingestion.core.jobs import IngestionJob
from services.ingestion.core.pipeline import (
    DocumentResult,
    IngestItem,
    Ingestor,
    Outcome,
    delete_document,
)
from services.ingestion.core.retrying import RetryPolicy
from services.ingestion.core.tokens import load_token_counter
from shared.contracts.errors import NotFoundError, ServiceUnavailableError
from shared.contracts.schemas import Chunk, SearchRequest, SearchResponse
from shared.infrastructure.retrieval_client import DocumentInfo


class MemoryRetrieval:
    """Keeps chunks in a dict and logs every call, in order."""

    def __init__(self) -> None:
        self.points: dict[str, Chunk] = {}
        self.calls: list[tuple[str, Any]] = []
        self.fail_next = 0

    def _maybe_fail(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ServiceUnavailableError("retrieval is down")

    def upsert_chunks(
        self, kb: str, chunks: Sequence[Chunk], *, replace_documents: bool = False
    ) -> int:
        self._maybe_fail()
        doc_ids = {c.doc_id for c in chunks}
        self.calls.append(("upsert", sorted(doc_ids)))
        if replace_documents:
            for key in [k for k, c in self.points.items() if c.doc_id in doc_ids]:
                del self.points[key]
        self.points.update({c.id: c for c in chunks})
        return len(chunks)

    def delete_document(self, kb: str, doc_id: str, *, keep_version: str | None = None) -> int:
        self._maybe_fail()
        self.calls.append(("delete", doc_id))
        doomed = [
            key
            for key, c in self.points.items()
            if c.doc_id == doc_id and c.doc_version != keep_version
        ]
        for key in doomed:
            del self.points[key]
        return len(doomed)

    def list_documents(self, kb: str) -> list[DocumentInfo]:
        self._maybe_fail()
        docs: dict[str, DocumentInfo] = {}
        for c in self.points.values():
            doc = docs.setdefault(c.doc_id, DocumentInfo(doc_id=c.doc_id))
            doc.versions[c.doc_version] = doc.versions.get(c.doc_version, 0) + 1
            doc.chunks += 1
        if not docs:
            raise NotFoundError("no such kb")
        return list(docs.values())

    def get_document(self, kb: str, doc_id: str) -> DocumentInfo | None:
        return next((d for d in self.list_documents(kb) if d.doc_id == doc_id), None)

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        raise NotImplementedError

    def list_collections(self) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def retrieval() -> MemoryRetrieval:
    return MemoryRetrieval()


@pytest.fixture
def ingestor(retrieval: MemoryRetrieval) -> Ingestor:
    chunker = Chunker(load_token_counter("all-MiniLM-L6-v2"), chunk_tokens=32, overlap_tokens=8)
    return Ingestor(retrieval, chunker, retry=RetryPolicy(3, 0.01, sleep=lambda _s: None))


def write(folder: Path, name: str, text: str) -> IngestItem:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return IngestItem(name, path=path)


def test_unchanged_content_writes_nothing(ingestor, retrieval, tmp_path):
    items = [write(tmp_path, "a.md", "# A\nAlpha fact."), write(tmp_path, "b.txt", "Beta fact.")]
    first = ingestor.ingest("kb", items)
    calls_after_first = len(retrieval.calls)

    second = ingestor.ingest("kb", items)

    assert {d.outcome for d in first.documents} == {Outcome.INGESTED}
    assert {d.outcome for d in second.documents} == {Outcome.UNCHANGED}
    assert len(retrieval.calls) == calls_after_first


def test_changed_document_replaces_its_old_version_in_one_write(ingestor, retrieval, tmp_path):
    ingestor.ingest("kb", [write(tmp_path, "a.md", "Old price is 10 dollars.")])
    retrieval.calls.clear()

    report = ingestor.ingest("kb", [write(tmp_path, "a.md", "New price is 12 dollars.")])

    assert retrieval.calls == [("upsert", ["a.md"])]
    (result,) = report.documents
    assert {c.doc_version for c in retrieval.points.values()} == {result.version}
    assert [c.text for c in retrieval.points.values()] == ["New price is 12 dollars."]


def test_chunks_carry_stable_ids_and_citation_metadata(ingestor, retrieval, tmp_path):
    ingestor.ingest("kb", [write(tmp_path, "guide.md", "# Guide\n## Setup\n" + "Step. " * 40)])
    chunks = sorted(retrieval.points.values(), key=lambda c: c.position)
    assert len(chunks) > 1
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert chunks[0].id == f"kb/guide.md@{chunks[0].doc_version}#0"
    assert {(c.title, c.section, c.source) for c in chunks} == {
        ("Guide", "Guide > Setup", "guide.md")
    }


def test_a_bad_file_is_reported_and_the_others_are_ingested(ingestor, tmp_path):
    items = [write(tmp_path, "bad.pdf", "not a pdf"), write(tmp_path, "ok.txt", "Fine.")]
    report = ingestor.ingest("kb", items)
    assert [e.file for e in report.errors] == ["bad.pdf"]
    assert report.errors[0].code == "unreadable_document"
    assert [d.doc_id for d in report.documents] == ["ok.txt"]


def test_retrieval_blips_are_retried(ingestor, retrieval, tmp_path):
    retrieval.fail_next = 2
    report = ingestor.ingest("kb", [write(tmp_path, "a.txt", "Alpha.")])
    assert [d.outcome for d in report.documents] == [Outcome.INGESTED]


def test_retrieval_down_raises_and_reports_no_document(ingestor, retrieval, tmp_path):
    ingestor.ingest("kb", [write(tmp_path, "seed.txt", "Seed.")])
    retrieval.fail_next = 100
    done: list[DocumentResult] = []

    class Observer:
        def document_done(self, result: DocumentResult) -> None:
            done.append(result)

        def file_failed(self, error: Any) -> None:
            raise AssertionError(error)

    with pytest.raises(ServiceUnavailableError, match="3 tries"):
        ingestor.ingest("kb", [write(tmp_path, "a.txt", "Alpha.")], Observer())
    assert done == []


def test_text_items_are_versioned_by_text_and_metadata(ingestor, retrieval):
    item = IngestItem("faq-1", text="Shipping is free.", metadata={"title": "FAQ"})
    retagged = IngestItem("faq-1", text="Shipping is free.", metadata={"title": "Help"})
    first = ingestor.ingest("kb", [item]).documents[0]
    second = ingestor.ingest("kb", [retagged]).documents[0]
    assert first.version != second.version
    assert second.outcome == Outcome.INGESTED


def test_delete_unknown_document_is_404(retrieval):
    with pytest.raises(NotFoundError):
        delete_document(retrieval, "kb", "ghost.md")


def test_job_record_merges_a_rerun_and_keeps_counts_per_job():
    job = IngestionJob(id="ingjob-1", kb="kb", files=["a.md", "b.md"])
    job.record_document(DocumentResult("a.md", "a.md", "v1", Outcome.INGESTED, 3))
    # The rerun after a crash sees a.md already stored: it stays "ingested" by this job.
    job.record_document(DocumentResult("a.md", "a.md", "v1", Outcome.UNCHANGED, 3))
    job.record_document(DocumentResult("b.md", "b.md", "v2", Outcome.UNCHANGED, 2))
    assert job.counts.model_dump() == {
        "files": 2,
        "documents": 2,
        "ingested": 1,
        "unchanged": 1,
        "failed_files": 0,
        "chunks_written": 3,
    }
