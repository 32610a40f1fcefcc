"""RAG through the gateway: the real retrieval service (uvicorn) behind a gunicorn gateway.

The sample domain's documents are indexed paragraph by paragraph; a factual question from its
question set must come back with citations that point at the document holding the answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from finerag.sample_domain import iter_corpus_texts
from shared.contracts.schemas import Chunk, content_hash
from shared.infrastructure.retrieval_client import HttpRetrievalClient
from tests.integration.gateway_processes import REPO, free_port, gateway_env, running_gateway

pytestmark = pytest.mark.integration

KB = "acme"


@pytest.fixture(scope="module")
def retrieval_url(sample_domain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("retrieval-data")
    port = free_port()
    log_path = tmp_path_factory.mktemp("retrieval-log") / "retrieval.log"
    argv = [sys.executable, "-m", "finerag", "serve", "retrieval", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=gateway_env(data_dir=str(data)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"retrieval service did not start:\n{log_path.read_text()}")
                try:
                    if httpx.get(f"{url}/ready", timeout=10).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            _index(url, sample_domain)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _index(url: str, domain) -> None:
    chunks = []
    texts = iter_corpus_texts(domain, documents_only=True)
    for doc_id, text in zip(domain.doc_ids, texts, strict=True):
        version = content_hash(text)
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        for position, paragraph in enumerate(paragraphs):
            chunks.append(
                Chunk(
                    id=f"{doc_id}:{version}:{position}",
                    kb=KB,
                    doc_id=doc_id,
                    doc_version=version,
                    source=doc_id,
                    text=paragraph,
                    position=position,
                )
            )
    with HttpRetrievalClient(url, timeout_s=300) as client:
        assert client.upsert_chunks(KB, chunks) == len(chunks)


@pytest.fixture(scope="module")
def rag_client(
    retrieval_url: str, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    env = gateway_env(
        base_model=str(tiny_model_dir),
        data_dir=str(tmp_path_factory.mktemp("rag-gateway-data")),
        retrieval_url=retrieval_url,
        default_max_tokens="8",
    )
    log = tmp_path_factory.mktemp("rag-gateway-log") / "gateway.log"
    with running_gateway(env, log) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)


def _factual_case(domain) -> dict:
    for line in domain.qa_path.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["type"] == "factual" and len(case["source_ids"]) == 1:
            return case
    raise AssertionError("the sample domain has no single-source factual question")


def test_rag_answer_cites_the_document_that_holds_the_answer(
    rag_client: openai.OpenAI, tiny_model_dir: Path, sample_domain
):
    case = _factual_case(sample_domain)
    answer = rag_client.chat.completions.create(
        model=str(tiny_model_dir),
        messages=[{"role": "user", "content": case["question"]}],
        max_tokens=8,
        temperature=0,
        extra_body={"rag": {"knowledge_base": KB, "top_k": 3, "mode": "hybrid"}},
    )
    citations = answer.model_extra["citations"]  # type: ignore[index]
    assert [c["index"] for c in citations] == list(range(1, len(citations) + 1))
    assert citations[0]["doc_id"] == case["source_ids"][0]
    assert set(citations[0]) == {"index", "chunk_id", "doc_id", "source", "section", "score"}
    assert answer.usage.prompt_tokens > 100  # the sources are in the prompt


def test_rag_stream_carries_citations_in_its_first_chunk(
    rag_client: openai.OpenAI, tiny_model_dir: Path, sample_domain
):
    case = _factual_case(sample_domain)
    chunks = list(
        rag_client.chat.completions.create(
            model=str(tiny_model_dir),
            messages=[{"role": "user", "content": case["question"]}],
            max_tokens=4,
            stream=True,
            extra_body={"rag": {"knowledge_base": KB, "top_k": 2}},
        )
    )
    assert chunks[0].model_extra["citations"][0]["doc_id"] == case["source_ids"][0]  # type: ignore[index]


def test_rag_on_a_missing_knowledge_base_is_404(rag_client: openai.OpenAI, tiny_model_dir: Path):
    with pytest.raises(openai.NotFoundError):
        rag_client.chat.completions.create(
            model=str(tiny_model_dir),
            messages=[{"role": "user", "content": "anything?"}],
            extra_body={"rag": {"knowledge_base": "no-such-kb"}},
        )
