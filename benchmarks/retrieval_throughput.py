"""Ingestion throughput against the bare embedder, and search latency over HTTP at 10k chunks.

    .venv/bin/python benchmarks/retrieval_throughput.py [--docs 60] [--points 10000] [--queries 200]

1. Chunks a synthetic corpus with the ingestion chunker, then times the bare embedder on
   exactly the passages the index embeds (chunks/s).
2. Starts the retrieval service (`finerag serve retrieval`, local Qdrant in a temporary data
   dir) and times the ingestion core end to end over HTTP on the same documents: parse, chunk,
   check versions, upsert (embed + sparse vectors + store), delete old versions (chunks/s).
   The goal is a ratio of at least 0.8 to the bare embedder.
3. Fills a second knowledge base to `--points` chunks and times searches over HTTP per mode
   (goal: p95 ≤ 50 ms). The fill writes the store directly, before the service opens it:
   dense vectors are real embeddings of 512 passages with small noise, sparse vectors are real;
   local mode scans every point, so latency depends on the count, not on the values, and
   embedding 10k chunks on a small CPU would take most of the run (`--embed-all` does it anyway).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from services.ingestion.core.chunking import Chunker
from services.ingestion.core.parsing import parse_file
from services.ingestion.core.pipeline import IngestItem, Ingestor
from services.ingestion.core.tokens import load_token_counter
from services.retrieval.core import sparse
from services.retrieval.core.embedder import Embedder
from services.retrieval.core.index import passage_text
from services.retrieval.core.store import ChunkStore, StoredChunk
from shared.retrieval_client import HttpRetrievalClient
from shared.schemas import Chunk
from shared.settings import Settings
from tests.integration.processes import PYTHON, ManagedProcess, free_port

_WORD_TEXT = (
    "filter thermostat warranty refund purifier humidity sensor valve cartridge firmware "
    "schedule installer voucher invoice delivery courier bracket gasket hose pump fan motor "
    "display battery charger adapter remote app account password reset backup calendar "
    "technician appointment store depot region tariff discount bundle subscription plan"
)
WORDS = _WORD_TEXT.split()
QUERIES = (
    "how often should the filter cartridge be replaced",
    "warranty on the pump motor",
    "refund for a damaged courier delivery",
    "reset the app account password",
    "which depot ships the thermostat bracket",
    "discount on a subscription bundle",
    "battery charger adapter specifications",
    "book a technician appointment",
)


def synthetic_documents(count: int, seed: int) -> list[tuple[str, bytes]]:
    """Markdown documents of ~8 chunks each, with headings, numbers and varied vocabulary."""
    rng = random.Random(seed)
    documents = []
    for number in range(count):
        lines = [f"# Product note {number}"]
        for section in range(4):
            lines.append(f"\n## Part {section}\n")
            for _ in range(12):
                words = rng.sample(WORDS, 9)
                value = rng.randint(1, 9999)
                lines.append(f"The {words[0]} {words[1]} uses {value} {words[2]} per {words[3]}.")
        documents.append((f"notes/note-{number:04d}.md", "\n".join(lines).encode()))
    return documents


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def start_retrieval(data_dir: Path, log_dir: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    env = {**os.environ, "FINERAG_DATA_DIR": str(data_dir), "FINERAG_LOG_FORMAT": "text"}
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess.start(
        "retrieval",
        [PYTHON, "-m", "finerag", "serve", "retrieval", "--port", str(port)],
        env=env,
        log_dir=log_dir,
        ready_url=f"{url}/ready",
        ready_timeout_s=300,
    )
    return process, url


def fill_store(
    settings: Settings, kb: str, points: int, embedder: Embedder, embed_all: bool
) -> None:
    """Write `points` chunks straight into the local store (the service is not running yet)."""
    rng = np.random.default_rng(7)
    texts = [" ".join(random.Random(i).sample(WORDS, 12)) + f" code {i}." for i in range(points)]
    if embed_all:
        dense = embedder.embed(texts)
    else:
        base = embedder.embed(texts[:512])
        noisy = base[np.arange(points) % len(base)] + rng.normal(0, 0.02, (points, base.shape[1]))
        dense = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    store = ChunkStore.open(settings)
    store.create(kb, embedder.dimension)
    for start in range(0, points, 1000):
        items = [
            StoredChunk(
                Chunk(
                    id=f"{kb}/doc-{i // 10}@v1#{i % 10}",
                    kb=kb,
                    doc_id=f"doc-{i // 10}",
                    doc_version="v1",
                    source=f"doc-{i // 10}",
                    text=texts[i],
                    position=i % 10,
                ),
                dense[i].astype(np.float32).tolist(),
                sparse.document_vector(texts[i]),
            )
            for i in range(start, min(points, start + 1000))
        ]
        store.upsert(kb, items)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=60, help="synthetic documents to ingest")
    parser.add_argument("--points", type=int, default=10_000, help="chunks in the latency store")
    parser.add_argument("--queries", type=int, default=200, help="searches per mode")
    parser.add_argument("--embed-all", action="store_true", help="embed every latency chunk")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="finerag-bench-"))
    settings = Settings(data_dir=work / "data")
    documents = synthetic_documents(args.docs, seed=7)

    # 1. the bare embedder on the passages the index will embed
    chunker = Chunker(
        load_token_counter(settings.embedding_model),
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
    )
    # Chunking only: build_chunks never calls retrieval.
    ingestor_for_chunks = Ingestor(None, chunker)  # type: ignore[arg-type]
    passages = [
        passage_text(chunk)
        for doc_id, data in documents
        for parsed in parse_file(doc_id, data)
        for chunk in ingestor_for_chunks.build_chunks("bench", parsed)
    ]
    embedder = Embedder(settings.embedding_model, batch_size=settings.embed_batch_size)
    embedder.embed(passages[:8])  # warm-up
    started = time.perf_counter()
    embedder.embed(passages)
    bare_rate = len(passages) / (time.perf_counter() - started)

    # 3a. fill the latency store while no service holds the local store
    fill_store(settings, "latency", args.points, embedder, args.embed_all)
    del embedder

    process, url = start_retrieval(settings.data_dir, work)
    try:
        # 2. end-to-end ingestion over HTTP on the same documents
        folder = work / "docs"
        items = []
        for doc_id, data in documents:
            path = folder / doc_id
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            items.append(IngestItem(doc_id, path=path))
        with HttpRetrievalClient(url, timeout_s=600) as client:
            ingestor = Ingestor(client, chunker)
            started = time.perf_counter()
            report = ingestor.ingest("bench", items)
            elapsed = time.perf_counter() - started
        written = sum(d.chunks for d in report.documents)
        assert written == len(passages), (written, len(passages))
        e2e_rate = written / elapsed

        # 3b. search latency over HTTP
        latency: dict[str, list[float]] = {}
        with httpx.Client(base_url=url, timeout=60) as http:
            for mode in ("dense", "sparse", "hybrid"):
                for query in QUERIES[:2]:  # warm-up
                    http.post("/v1/collections/latency/search", json={"query": query, "mode": mode})
                times = []
                for n in range(args.queries):
                    body = {"query": QUERIES[n % len(QUERIES)], "mode": mode, "top_k": 5}
                    started = time.perf_counter()
                    response = http.post("/v1/collections/latency/search", json=body)
                    times.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                latency[mode] = times
            points = http.get("/v1/collections/latency").json()["points"]
    finally:
        process.stop()

    print(f"\nRetrieval benchmark ({os.cpu_count()} CPUs, model {settings.embedding_model})\n")
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'chunks ingested (' + str(len(documents)) + ' documents)':<44}{written:>12}")
    print(f"{'bare embedder, chunks/s':<44}{bare_rate:>12.1f}")
    print(f"{'ingestion end to end over HTTP, chunks/s':<44}{e2e_rate:>12.1f}")
    print(f"{'ratio (goal >= 0.8)':<44}{e2e_rate / bare_rate:>12.2f}")
    print(f"{'points in the latency store':<44}{points:>12}")
    for mode, times in latency.items():
        label = f"search {mode}, p50 / p95 ms (goal p95 <= 50)"
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        print(f"{label:<44}{p50:>6.1f} /{p95:>5.1f}")
    every = [ms for times in latency.values() for ms in times]
    print(f"\nmean of all searches: {statistics.mean(every):.1f} ms")


if __name__ == "__main__":
    main()
