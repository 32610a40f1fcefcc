"""Knowledge commands: `ingest`, `search`, `migrate-store`.

`ingest` and `search` run the cores in-process on the local store by default, and call the
services when FINERAG_INGESTION_URL / FINERAG_RETRIEVAL_URL are set (local mode allows one
process per store, so while a retrieval service runs, it owns the store).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.contracts.errors import InvalidRequestError, ServiceUnavailableError
from shared.contracts.schemas import SearchRequest
from shared.infrastructure.retrieval_client import HttpRetrievalClient, RetrievalClient
from shared.infrastructure.settings import Settings, get_settings

JOB_POLL_S = 0.5


def _quiet_model_loading() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@contextmanager
def open_retrieval(settings: Settings) -> Iterator[RetrievalClient]:
    """The retrieval service when FINERAG_RETRIEVAL_URL is set, else the core in-process."""
    if settings.retrieval_url:
        with HttpRetrievalClient.from_settings(settings) as client:
            yield client
        return
    _quiet_model_loading()
    from finerag.embedded import InProcessRetrieval

    with InProcessRetrieval.open(settings) as local:
        yield local


# --- ingest ------------------------------------------------------------------------------------


def collect_files(paths: Sequence[Path]) -> list[tuple[str, Path]]:
    """(doc id, file) pairs: folders recursively, doc id relative to the folder given."""
    from services.ingestion.core.parsing import SUPPORTED_SUFFIXES

    found: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower() in SUPPORTED_SUFFIXES:
                    found.append((file.relative_to(path).as_posix(), file))
        elif path.is_file():
            found.append((path.name, path))
        else:
            raise InvalidRequestError(f"{path} does not exist")
    return found


def _ingest_embedded(settings: Settings, kb: str, files: list[tuple[str, Path]]) -> int:
    from services.ingestion.core.chunking import Chunker
    from services.ingestion.core.parsing import check_supported
    from services.ingestion.core.pipeline import DocumentResult, FileError, IngestItem, Ingestor
    from services.ingestion.core.tokens import load_token_counter

    for doc_id, _ in files:
        check_supported(doc_id)
    chunker = Chunker(
        load_token_counter(settings.embedding_model),
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
    )

    class Printer:
        def document_done(self, result: DocumentResult) -> None:
            print(f"{result.outcome.value:9}  {result.doc_id}  ({result.chunks} chunks)")

        def file_failed(self, error: FileError) -> None:
            print(f"failed     {error.file}: {error.message}", file=sys.stderr)

    with open_retrieval(settings) as retrieval:
        ingestor = Ingestor(retrieval, chunker)
        items = [IngestItem(doc_id, path=path) for doc_id, path in files]
        report = ingestor.ingest(kb, items, Printer())
    written = sum(d.chunks for d in report.documents)
    print(
        f"{len(report.documents)} documents, {written} chunks written, {len(report.errors)} failed"
    )
    return 1 if report.errors else 0


def _ingest_remote(settings: Settings, kb: str, files: list[tuple[str, Path]]) -> int:
    import httpx

    assert settings.ingestion_url
    token = settings.service_token
    with httpx.Client(
        base_url=settings.ingestion_url,
        timeout=settings.retrieval_timeout_s,
        headers={"Authorization": f"Bearer {token.get_secret_value()}"} if token else {},
    ) as http:
        uploads = [("files", (doc_id, path.read_bytes())) for doc_id, path in files]
        try:
            response = http.post(f"/v1/knowledge-bases/{kb}/documents", files=uploads)
            if response.status_code >= 400:
                error = response.json().get("error", {})
                raise InvalidRequestError(str(error.get("message", response.text)))
            job = response.json()
            while job["status"] not in ("succeeded", "failed"):
                time.sleep(JOB_POLL_S)
                job = http.get(f"/v1/ingestion-jobs/{job['id']}").json()
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(f"ingestion service unreachable: {exc}") from exc
    for error in job["errors"]:
        print(f"failed     {error['file']}: {error['message']}", file=sys.stderr)
    counts = job["counts"]
    print(
        f"job {job['id']} {job['status']}: {counts['ingested']} ingested, "
        f"{counts['unchanged']} unchanged, {counts['failed_files']} failed, "
        f"{counts['chunks_written']} chunks written"
    )
    if job.get("error"):
        print(job["error"], file=sys.stderr)
    return 0 if job["status"] == "succeeded" and not job["errors"] else 1


def run_ingest(args: argparse.Namespace) -> int:
    """`finerag ingest PATH... --kb NAME`."""
    settings = get_settings()
    files = collect_files([Path(p) for p in args.paths])
    if not files:
        raise InvalidRequestError("no readable files found in the paths given")
    if settings.ingestion_url:
        return _ingest_remote(settings, args.kb, files)
    return _ingest_embedded(settings, args.kb, files)


# --- search ------------------------------------------------------------------------------------


def run_search(args: argparse.Namespace) -> int:
    """`finerag search QUERY --kb NAME [--top-k K] [--mode M] [--json]`."""
    request = SearchRequest(query=args.query, top_k=args.top_k, mode=args.mode)
    with open_retrieval(get_settings()) as retrieval:
        response = retrieval.search(args.kb, request)
    if args.json:
        print(response.model_dump_json(indent=2))
        return 0
    if not response.hits:
        print("no hits")
    for rank, hit in enumerate(response.hits, start=1):
        where = f"{hit.doc_id}" + (f" — {hit.section}" if hit.section else "")
        snippet = " ".join(hit.text.split())[:160]
        print(f"{rank:>2}. [{hit.score:.3f}] {where}\n    {snippet}")
    return 0


# --- migrate-store -----------------------------------------------------------------------------


def run_migrate_store(args: argparse.Namespace) -> int:
    """`finerag migrate-store`: the local-mode store under the data dir, moved to Qdrant Edge."""
    settings = get_settings()
    if settings.qdrant_url:
        raise InvalidRequestError(
            "FINERAG_QDRANT_URL is set: the store is a Qdrant server, which needs no migration "
            "(migrate-store moves the embedded local-mode store to Qdrant Edge)"
        )
    from tqdm import tqdm

    from services.retrieval.core.store import ChunkStore, local_store_exists, migrate

    source_dir = settings.qdrant_path
    if not local_store_exists(settings):
        raise InvalidRequestError(f"no local-mode store at {source_dir}: nothing to migrate")

    source = ChunkStore.open(settings.model_copy(update={"vector_store": "local"}))
    target = ChunkStore.open(settings.model_copy(update={"vector_store": "edge"}))
    try:
        total = sum(source.count(kb) for kb in source.backend.names())
        with tqdm(total=total, unit="point", desc="migrating", disable=None) as bar:
            copied = migrate(source, target, progress=bar.update)
    finally:
        source.close()
        target.close()
    for kb, points in copied.items():
        said = "already in Qdrant Edge, left alone" if points is None else f"{points} points"
        print(f"{kb}: {said}")
    print(f"Qdrant Edge store: {settings.edge_path} (the default; {source_dir} can be removed)")
    return 0


def register(subparsers: Any) -> None:
    """Add `ingest`, `search` and `migrate-store` to `finerag`."""
    ingest = subparsers.add_parser("ingest", help="ingest files or folders into a knowledge base")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (recursive)")
    ingest.add_argument("--kb", required=True, help="knowledge base name")
    ingest.set_defaults(func=run_ingest)

    search = subparsers.add_parser("search", help="search a knowledge base")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--kb", required=True, help="knowledge base name")
    search.add_argument("--top-k", type=int, default=5, help="hits to return (default 5)")
    search.add_argument("--mode", choices=("hybrid", "dense", "sparse"), default="hybrid")
    search.add_argument("--json", action="store_true", help="print the search response JSON")
    search.set_defaults(func=run_search)

    migrate = subparsers.add_parser(
        "migrate-store",
        help="move the embedded local-mode store (data_dir/qdrant) to Qdrant Edge (data_dir/edge)",
        description="Copies every collection with its vectors (nothing is embedded again), each "
        "in one transaction: run it again after an interruption to finish.",
    )
    migrate.set_defaults(func=run_migrate_store)
