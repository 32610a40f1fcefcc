"""Retrieval benchmark: Qdrant Edge and qdrant-client's local mode side by side, in one run.

    .venv/bin/python benchmarks/retrieval_throughput.py                    # 10,000 points
    .venv/bin/python benchmarks/retrieval_throughput.py --points 100000    # Edge's 5 ms goal
    .venv/bin/python benchmarks/retrieval_throughput.py --points 2000 --queries 30 --docs 10

The last is a quick smoke run. At 100,000 points local mode's latency sections are skipped
(see --skip-local-above).

Options: --docs 60, --points 10000, --queries 200, --skip-local-above 20000, --embed-all.
For each backend (`edge`, then `local`; FINERAG_VECTOR_STORE in the service, `vector_store` in
this process), each in its own data dir:

1. Ingestion: the bare embedder on exactly the passages the index embeds (chunks/s, measured
   once), against the ingestion core driving the retrieval service (`finerag serve retrieval`)
   over HTTP on the same synthetic documents: parse, chunk, check versions, upsert (embed +
   sparse vectors + store), delete old versions. Goal: a ratio of at least 0.8.
2. A latency store of `--points` chunks, written directly before the service opens it: dense
   vectors are real embeddings of 512 passages plus small noise (`--embed-all` embeds every
   one), sparse vectors are real; both backends get the same vectors. Edge's shard is then
   optimised synchronously (segment merge, HNSW build; timed), as the service would in the
   background.
3. In-process search: `ChunkStore.search` with precomputed query vectors (no embedding, no
   HTTP), p50/p95 per mode. Goal for Edge: p95 <= 5 ms at 100,000 points.
4. Search over HTTP, the query embedding included (as the service does it), p50/p95 per mode,
   plus the service's own mean time (embed + store, from its /metrics). Goal: hybrid p95 <= 25 ms.
   Local mode scans every point in Python: above `--skip-local-above` points its latency
   sections are skipped.
5. Retrieval quality on the generated sample domain (seed 7, ingested in-process with
   chunk_tokens=128 and overlap 16, as the tests' fixture): recall@5, MRR, nDCG@5 per mode.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.retrieval_report import BACKENDS, MODES, BackendResult, report
from finerag.embedded import InProcessRetrieval
from finerag.pipeline import ingest_folder
from finerag.sample_domain import generate_sample_domain
from services.evaluation.retrieval_metrics import RetrievalScores, evaluate_retrieval
from services.ingestion.core.chunking import Chunker
from services.ingestion.core.parsing import parse_file
from services.ingestion.core.pipeline import IngestItem, Ingestor
from services.ingestion.core.tokens import load_token_counter
from services.retrieval.core import sparse
from services.retrieval.core.edge_backend import EdgeBackend
from services.retrieval.core.embedder import Embedder
from services.retrieval.core.index import KnowledgeIndex, passage_text
from services.retrieval.core.sparse import SparseTerms
from services.retrieval.core.store import ChunkStore, StoredChunk
from shared.contracts.schemas import Chunk, QACase, SearchRequest
from shared.infrastructure.retrieval_client import HttpRetrievalClient
from shared.infrastructure.settings import Settings
from tests.integration.processes import PYTHON, ManagedProcess, free_port

LATENCY_KB = "latency"
# The sample domain is chunked as the tests' `sample_kb_settings` fixture does.
QUALITY_CHUNKING = {"chunk_tokens": 128, "chunk_overlap_tokens": 16}
# Larger than any fill: the benchmark optimises Edge's shard itself, once, after the fill.
NEVER = 10**12
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


@dataclass
class LatencyCorpus:
    """The latency store's chunks and vectors, shared by both backends."""

    texts: list[str]
    dense: npt.NDArray[np.float32]
    sparse: list[SparseTerms]

    def items(self, start: int, stop: int) -> list[StoredChunk]:
        return [
            StoredChunk(
                Chunk(
                    id=f"{LATENCY_KB}/doc-{i // 10}@v1#{i % 10}",
                    kb=LATENCY_KB,
                    doc_id=f"doc-{i // 10}",
                    doc_version="v1",
                    source=f"doc-{i // 10}",
                    text=self.texts[i],
                    position=i % 10,
                ),
                self.dense[i].tolist(),
                self.sparse[i],
            )
            for i in range(start, stop)
        ]


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


def latency_corpus(points: int, embedder: Embedder, embed_all: bool) -> LatencyCorpus:
    """Texts, dense and sparse vectors of the latency store (see the module docstring)."""
    texts = [" ".join(random.Random(i).sample(WORDS, 12)) + f" code {i}." for i in range(points)]
    if embed_all:
        dense = embedder.embed(texts)
    else:
        base = embedder.embed(texts[:512])
        noise = np.random.default_rng(7).normal(0, 0.02, (points, base.shape[1]))
        noisy = base[np.arange(points) % len(base)] + noise
        dense = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    return LatencyCorpus(texts, dense, [sparse.document_vector(text) for text in texts])


def fill_and_search(
    settings: Settings,
    corpus: LatencyCorpus,
    queries: list[tuple[list[float], SparseTerms]],
    repeats: int,
    result: BackendResult,
) -> None:
    """Write the latency store, optimise Edge's shard, time in-process searches; then close."""
    store = ChunkStore.open(settings)
    try:
        store.create(LATENCY_KB, corpus.dense.shape[1])
        started = time.perf_counter()
        for start in range(0, len(corpus.texts), 1000):
            store.upsert(LATENCY_KB, corpus.items(start, min(len(corpus.texts), start + 1000)))
        result.fill_s = time.perf_counter() - started
        if isinstance(store.backend, EdgeBackend):
            backend = store.backend
            before = backend.shard(LATENCY_KB).info().segments_count
            started = time.perf_counter()
            if not backend.optimizer.run(LATENCY_KB):
                raise RuntimeError("optimising the Edge shard failed (see the log above)")
            info = backend.shard(LATENCY_KB).info()
            result.optimise = (
                f"{time.perf_counter() - started:.1f} s, {before} -> {info.segments_count} "
                f"segments, {info.indexed_vectors_count} indexed vectors"
            )

        result.in_process = {}
        for mode in MODES:
            for dense, terms in queries[:2]:  # warm-up
                store.search(LATENCY_KB, dense=dense, sparse=terms, mode=mode, limit=5)
            times = []
            for n in range(repeats):
                dense, terms = queries[n % len(queries)]
                started = time.perf_counter()
                store.search(LATENCY_KB, dense=dense, sparse=terms, mode=mode, limit=5)
                times.append((time.perf_counter() - started) * 1000)
            result.in_process[mode] = times
    finally:
        store.close()


def sample_quality(
    settings: Settings, embedder: Embedder, kb_dir: Path, cases: list[QACase]
) -> list[RetrievalScores]:
    """Ingest the sample domain in-process (sharing the loaded embedder) and score each mode."""
    index = KnowledgeIndex(embedder, ChunkStore.open(settings))
    with InProcessRetrieval(index) as retrieval:
        ingest_folder(retrieval, settings, "acme", kb_dir)
        return evaluate_retrieval(retrieval, "acme", cases)


def service_search_seconds(url: str) -> dict[str, tuple[float, float]]:
    """The service's search histogram (embed + store, no HTTP): (sum s, count) per mode."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    found: dict[str, tuple[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "finerag_retrieval_search_seconds":
            continue
        for sample in family.samples:
            mode = sample.labels.get("mode", "")
            total, count = found.get(mode, (0.0, 0.0))
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
            found[mode] = (total, count)
    return found


def over_http(
    backend: str,
    data_dir: Path,
    documents: list[tuple[str, Path]],
    chunker: Chunker,
    expected_chunks: int,
    args: argparse.Namespace,
    result: BackendResult,
) -> None:
    """Start the service on `data_dir` with this backend: time ingestion, then searches."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FINERAG_DATA_DIR": str(data_dir),
        "FINERAG_VECTOR_STORE": backend,
        "FINERAG_QDRANT_URL": "",  # an embedded store, whatever the environment names
        "FINERAG_LOG_FORMAT": "text",
    }
    process = ManagedProcess.start(
        "retrieval",
        [PYTHON, "-m", "finerag", "serve", "retrieval", "--port", str(port)],
        env=env,
        log_dir=data_dir,
        ready_url=f"{url}/ready",
        ready_timeout_s=300,
    )
    try:
        with HttpRetrievalClient(url, timeout_s=600) as client:
            items = [IngestItem(doc_id, path=path) for doc_id, path in documents]
            started = time.perf_counter()
            report = Ingestor(client, chunker).ingest("bench", items)
            elapsed = time.perf_counter() - started
            written = sum(d.chunks for d in report.documents)
            if written != expected_chunks:
                raise RuntimeError(f"ingested {written} chunks, expected {expected_chunks}")
            result.ingest_rate = written / elapsed

            if result.in_process is None:  # the latency store was skipped for this backend
                return
            result.http = {}
            for mode in MODES:
                for query in QUERIES[:2]:  # warm-up
                    client.search(LATENCY_KB, SearchRequest(query=query, mode=mode, top_k=5))
                before = service_search_seconds(url).get(mode, (0.0, 0.0))
                times = []
                for n in range(args.queries):
                    request = SearchRequest(query=QUERIES[n % len(QUERIES)], mode=mode, top_k=5)
                    started = time.perf_counter()
                    client.search(LATENCY_KB, request)
                    times.append((time.perf_counter() - started) * 1000)
                result.http[mode] = times
                after = service_search_seconds(url)[mode]
                result.service_mean[mode] = (after[0] - before[0]) / (after[1] - before[1]) * 1000
            counts = {c["name"]: c["points"] for c in client.list_collections()}
            result.points = counts[LATENCY_KB]
    finally:
        process.stop()


def run(args: argparse.Namespace, work: Path) -> None:
    """Measure both backends under `work`, then print the report."""
    base = Settings(_env_file=None, data_dir=work, qdrant_url=None)

    # the bare embedder on exactly the passages the index will embed
    chunker = Chunker(
        load_token_counter(base.embedding_model),
        chunk_tokens=base.chunk_tokens,
        overlap_tokens=base.chunk_overlap_tokens,
    )
    documents = synthetic_documents(args.docs, seed=7)
    chunking = Ingestor(None, chunker)  # type: ignore[arg-type]  # build_chunks never calls it
    passages = [
        passage_text(chunk)
        for doc_id, data in documents
        for parsed in parse_file(doc_id, data)
        for chunk in chunking.build_chunks("bench", parsed)
    ]
    embedder = Embedder(
        base.embedding_model, batch_size=base.embed_batch_size, threads=base.embed_threads
    )
    embedder.embed(passages[:8])  # warm-up
    started = time.perf_counter()
    embedder.embed(passages)
    bare_rate = len(passages) / (time.perf_counter() - started)
    files = []
    for doc_id, data in documents:
        path = work / "docs" / doc_id
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append((doc_id, path))

    # shared inputs: the latency corpus, the query vectors, the sample domain
    corpus = latency_corpus(args.points, embedder, args.embed_all)
    query_dense = embedder.embed(list(QUERIES))
    queries = [
        (vector.tolist(), sparse.query_vector(text))
        for vector, text in zip(query_dense, QUERIES, strict=True)
    ]
    embed_ms = []
    for n in range(args.queries):
        started = time.perf_counter()
        embedder.embed([QUERIES[n % len(QUERIES)]])
        embed_ms.append((time.perf_counter() - started) * 1000)
    domain = generate_sample_domain(work / "sample-domain")
    lines = domain.qa_path.read_text(encoding="utf-8").splitlines()
    cases = [QACase.model_validate_json(line) for line in lines if line.strip()]

    results: dict[str, BackendResult] = {}
    for backend in BACKENDS:
        result = results[backend] = BackendResult()
        service = base.model_copy(
            update={
                "data_dir": work / backend / "service",
                "vector_store": backend,
                "edge_optimize_after": NEVER,
            }
        )
        if backend == "edge" or args.points <= args.skip_local_above:
            print(f"[{backend}] latency store, in-process searches", flush=True)
            fill_and_search(service, corpus, queries, args.queries, result)
        print(f"[{backend}] sample-domain quality", flush=True)
        quality = base.model_copy(
            update={
                "data_dir": work / backend / "quality",
                "vector_store": backend,
                **QUALITY_CHUNKING,
            }
        )
        result.quality = sample_quality(quality, embedder, domain.kb_dir, cases)
        print(f"[{backend}] service: ingestion and searches over HTTP", flush=True)
        over_http(backend, service.data_dir, files, chunker, len(passages), args, result)

    questions = sum(1 for case in cases if case.source_ids)
    report(args, base.embedding_model, results, bare_rate, len(passages), embed_ms, questions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=60, help="synthetic documents to ingest")
    parser.add_argument("--points", type=int, default=10_000, help="chunks in the latency store")
    parser.add_argument("--queries", type=int, default=200, help="searches per mode")
    parser.add_argument(
        "--skip-local-above",
        type=int,
        default=20_000,
        help="skip local mode's latency sections above this many points (it scans in Python)",
    )
    parser.add_argument("--embed-all", action="store_true", help="embed every latency chunk")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finerag-bench-") as work:
        run(args, Path(work))


if __name__ == "__main__":
    main()
