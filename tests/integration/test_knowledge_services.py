"""The knowledge data plane end to end: both services and a Celery worker as real processes.

Redis DB 5 is flushed and used only here; Qdrant Edge runs inside the retrieval
process, under a temporary FINERAG_DATA_DIR. Everything is driven over HTTP with httpx.

Each test stands alone, in any order: what it needs ingested comes from a fixture (the shared
sample knowledge base is only read; a test that edits one gets its own copy), and a test that
stops a service starts it again.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from services.evaluation.retrieval_metrics import evaluate_retrieval
from shared.contracts.schemas import QACase
from shared.infrastructure.retrieval_client import HttpRetrievalClient
from tests.integration.knowledge_stack import (
    JOB_TIMEOUT_S,
    KB,
    MAX_UPLOAD_BYTES,
    REDIS_URL,
    KnowledgeStack,
    ingest_sample,
    kb_files,
    points,
    search,
    upload,
    wait_job,
)
from tests.integration.processes import PYTHON, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeStack]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    knowledge = KnowledgeStack(tmp_path_factory.mktemp("knowledge"))
    try:
        knowledge.start("retrieval")
        knowledge.start("ingestion")
        knowledge.start_worker()
        yield knowledge
    finally:
        knowledge.stop_all()
        redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture(scope="module")
def ingestion(stack: KnowledgeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.ingestion_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def retrieval(stack: KnowledgeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.retrieval_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def sample_kb(ingestion: httpx.Client, sample_domain: Any) -> dict[str, Any]:
    """The sample knowledge base ingested into KB once; its job. Tests only read KB."""
    return ingest_sample(ingestion, KB, sample_domain.kb_dir)


@pytest.fixture
def own_sample_kb(
    request: pytest.FixtureRequest, ingestion: httpx.Client, sample_domain: Any
) -> str:
    """A fresh copy of the sample knowledge base for a test that changes it; its name."""
    kb = f"own-{request.node.name.removeprefix('test_')}"[:63]
    ingest_sample(ingestion, kb, sample_domain.kb_dir)
    return kb


@pytest.fixture
def retrieval_down(stack: KnowledgeStack) -> Iterator[None]:
    """The retrieval service stopped for the test, and started again (same port, same data)."""
    stack.processes["retrieval"].stop()
    try:
        yield
    finally:
        stack.start("retrieval")


# --- the sample knowledge base -----------------------------------------------------------------


def test_ingest_sample_knowledge_base(sample_kb, ingestion, retrieval, sample_domain):
    files = kb_files(sample_domain.kb_dir)
    job = sample_kb

    assert job["status"] == "succeeded", job
    assert job["errors"] == []
    assert job["counts"]["ingested"] == len(files) == len(sample_domain.doc_ids)
    listed = ingestion.get(f"/v1/knowledge-bases/{KB}/documents").json()["data"]
    assert sorted(doc["doc_id"] for doc in listed) == sorted(sample_domain.doc_ids)
    assert all(len(doc["versions"]) == 1 for doc in listed)
    assert points(retrieval, KB) == job["counts"]["chunks_written"] > len(files)
    hit = search(retrieval, KB, "trade-in credit for an old air purifier", top_k=1)[0]
    assert set(hit) >= {"chunk_id", "doc_id", "source", "section", "text", "score"}


def test_reingesting_unchanged_content_writes_nothing(
    sample_kb, ingestion, retrieval, sample_domain
):
    before = points(retrieval, KB)
    job = wait_job(ingestion, upload(ingestion, KB, kb_files(sample_domain.kb_dir))["id"])

    assert job["status"] == "succeeded"
    assert job["counts"]["unchanged"] == len(sample_domain.doc_ids)
    assert job["counts"]["chunks_written"] == 0
    assert points(retrieval, KB) == before


def test_hybrid_recall_at_5_on_factual_questions(stack, sample_kb, sample_domain):
    lines = sample_domain.qa_path.read_text().splitlines()
    cases = [QACase.model_validate_json(line) for line in lines]
    factual = [case for case in cases if case.type == "factual"]
    with HttpRetrievalClient(stack.retrieval_url) as client:
        scores = {
            s.mode: s
            for s in evaluate_retrieval(client, KB, factual, ks=(5,), modes=("dense", "hybrid"))
        }

    assert scores["hybrid"].questions == len(factual)
    assert scores["hybrid"].recall[5] >= 0.9
    assert scores["hybrid"].recall[5] >= scores["dense"].recall[5]


def test_changed_document_replaces_its_old_chunks(
    own_sample_kb, ingestion, retrieval, sample_domain
):
    kb = own_sample_kb
    doc_id = "company/about.md"
    old = ingestion.get(f"/v1/knowledge-bases/{kb}/documents").json()["data"]
    old_version = next(d for d in old if d["doc_id"] == doc_id)["versions"]
    text = (sample_domain.kb_dir / doc_id).read_text()
    changed = text + "\n## Mascot\n\nThe company mascot is a violet heron named Quillobar.\n"

    job = wait_job(ingestion, upload(ingestion, kb, [("files", (doc_id, changed.encode()))])["id"])

    assert job["status"] == "succeeded"
    assert job["counts"]["ingested"] == 1
    stored = retrieval.get(f"/v1/collections/{kb}/documents/{doc_id}").json()
    assert len(stored["versions"]) == 1
    assert stored["versions"].keys() != old_version.keys()
    hits = search(retrieval, kb, "What is the name of the company mascot?", top_k=3)
    assert hits[0]["doc_id"] == doc_id
    assert "Quillobar" in hits[0]["text"]
    old_chunks = search(
        retrieval, kb, "mascot", top_k=50, filter={"doc_version": list(old_version)}
    )
    assert old_chunks == []


def test_deleted_document_is_never_cited(own_sample_kb, ingestion, retrieval):
    kb = own_sample_kb
    doc_id = "policies/trade-in.pdf"
    query = "trade-in credit for an old air purifier"
    assert search(retrieval, kb, query, top_k=1)[0]["doc_id"] == doc_id
    response = ingestion.delete(f"/v1/knowledge-bases/{kb}/documents/{doc_id}")
    assert response.status_code == 200, response.text

    for mode in ("hybrid", "dense", "sparse"):
        hits = search(retrieval, kb, query, top_k=20, mode=mode)
        assert hits, mode  # the rest of the knowledge base still answers
        assert all(hit["doc_id"] != doc_id for hit in hits)
    listed = ingestion.get(f"/v1/knowledge-bases/{kb}/documents").json()["data"]
    assert doc_id not in {doc["doc_id"] for doc in listed}
    again = ingestion.delete(f"/v1/knowledge-bases/{kb}/documents/{doc_id}")
    assert again.status_code == 404
    assert again.json()["error"]["type"] == "not_found_error"


# --- crash recovery ----------------------------------------------------------------------------


def test_worker_killed_mid_batch_resumes_with_every_document_once(stack, ingestion, retrieval):
    kb = "crash"
    files = [
        (
            "files",
            (
                f"notes/note-{n:03d}.txt",
                " ".join(
                    f"Note {n} paragraph {p}: the reference code for item {n}-{p} is "
                    f"Z{n * 1000 + p} and it ships from depot {p % 7}."
                    for p in range(60)
                ).encode(),
            ),
        )
        for n in range(24)
    ]
    job_id = upload(ingestion, kb, files)["id"]

    def some_done() -> bool:
        job = ingestion.get(f"/v1/ingestion-jobs/{job_id}").json()
        return job["status"] == "running" and job["counts"]["documents"] >= 1

    wait_until(some_done, timeout_s=JOB_TIMEOUT_S, interval_s=0.05, what="first documents")
    stack.processes["ingestion-worker"].kill()
    interrupted = ingestion.get(f"/v1/ingestion-jobs/{job_id}").json()
    assert interrupted["status"] == "running"
    assert interrupted["counts"]["documents"] < len(files)

    stack.start_worker()
    job = wait_job(ingestion, job_id)

    assert job["status"] == "succeeded", job
    assert job["attempts"] >= 2
    # A document written by the killed try but not yet recorded is "unchanged" for the next one.
    assert job["counts"]["documents"] == len(files)
    assert job["counts"]["ingested"] + job["counts"]["unchanged"] == len(files)
    stored = ingestion.get(f"/v1/knowledge-bases/{kb}/documents").json()["data"]
    assert sorted(d["doc_id"] for d in stored) == sorted(name for _, (name, _) in files)
    expected = {d["doc_id"]: d["chunks"] for d in job["documents"]}
    for doc in stored:
        assert len(doc["versions"]) == 1
        assert doc["chunks"] == expected[doc["doc_id"]]
    assert points(retrieval, kb) == sum(expected.values())


# --- bad input ---------------------------------------------------------------------------------


def test_unsupported_type_is_415_naming_supported_ones(ingestion):
    response = ingestion.post(
        f"/v1/knowledge-bases/{KB}/documents", files=[("files", ("tool.exe", b"MZ..."))]
    )
    assert response.status_code == 415
    error = response.json()["error"]
    assert ".md" in error["message"]
    assert ".pdf" in error["message"]
    assert error["type"] == "invalid_request_error"


def test_bad_pdfs_fail_alone_while_other_files_ingest(ingestion, retrieval):
    kb = "badfiles"
    files = [
        ("files", ("broken.pdf", b"%PDF-1.4\n this is not really a pdf")),
        ("files", ("empty.pdf", b"")),
        ("files", ("fine.txt", b"The lighthouse keeper's cat is named Barnacle.")),
    ]
    job = wait_job(ingestion, upload(ingestion, kb, files)["id"])

    assert job["status"] == "succeeded"
    assert {e["file"] for e in job["errors"]} == {"broken.pdf", "empty.pdf"}
    assert all(e["code"] == "unreadable_document" for e in job["errors"])
    assert [d["doc_id"] for d in job["documents"]] == ["fine.txt"]
    assert search(retrieval, kb, "What is the cat called?")[0]["doc_id"] == "fine.txt"


def test_upload_over_the_limit_is_413(ingestion):
    big = b"word " * (MAX_UPLOAD_BYTES // 5 + 10)
    response = ingestion.post(
        f"/v1/knowledge-bases/{KB}/documents", files=[("files", ("big.txt", big))]
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_unknown_knowledge_base_is_404(ingestion, retrieval):
    assert ingestion.get("/v1/knowledge-bases/nowhere/documents").status_code == 404
    response = retrieval.post("/v1/collections/nowhere/search", json={"query": "anything"})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "kb"


@pytest.mark.parametrize("query", ["", "   ", "x" * 2001])
def test_empty_or_over_long_query_is_400(retrieval, query):
    response = retrieval.post(f"/v1/collections/{KB}/search", json={"query": query})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "Traceback" not in response.text


def test_metrics_and_unknown_job(sample_kb, ingestion, retrieval):
    search(retrieval, KB, "trade-in credit", mode="sparse")
    metrics = retrieval.get("/metrics").text
    assert 'finerag_retrieval_search_seconds_count{mode="sparse"}' in metrics
    response = ingestion.get("/v1/ingestion-jobs/ingjob-0000000000000000")
    assert response.status_code == 404


# --- the CLI in service mode ------------------------------------------------------------------


def run_cli(stack: KnowledgeStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "FINERAG_INGESTION_URL": stack.ingestion_url}
    return subprocess.run(
        [PYTHON, "-m", "finerag", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_ingests_searches_and_evaluates_through_the_services(stack, sample_domain, tmp_path):
    folder = tmp_path / "cli-kb"
    (folder / "faq").mkdir(parents=True)
    (folder / "faq" / "parking.md").write_text("# Parking\nVisitors park free in bay C.")

    ingested = run_cli(stack, "ingest", str(folder), "--kb", "cli")
    assert ingested.returncode == 0, ingested.stderr
    assert "succeeded: 1 ingested" in ingested.stdout

    found = run_cli(stack, "search", "where can visitors park", "--kb", "cli", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["hits"][0]["doc_id"] == "faq/parking.md"

    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps(
            {
                "id": "q1",
                "question": "Where do visitors park?",
                "answer": "bay C",
                "source_ids": ["faq/parking.md"],
                "type": "factual",
            }
        )
        + "\n"
    )
    scores = run_cli(
        stack, "eval", "retrieval", "--kb", "cli", "--qa", str(qa), "--k", "1", "--json"
    )
    assert scores.returncode == 0, scores.stderr
    assert {s["mode"]: s["recall"]["1"] for s in json.loads(scores.stdout)} == {
        "dense": 1.0,
        "sparse": 1.0,
        "hybrid": 1.0,
    }


# --- retrieval down (the fixture starts it again afterwards) ------------------------------------


def test_retrieval_down_fails_the_job_without_marking_documents(retrieval_down, ingestion):
    files = [("files", ("late.txt", b"This document arrives while retrieval is down."))]
    job = wait_job(ingestion, upload(ingestion, "downtime", files)["id"])

    assert job["status"] == "failed"
    assert "3 tries" in job["error"]
    assert job["documents"] == []
