"""The knowledge data plane as real processes (retrieval, ingestion, an ingestion worker) and
what the tests do with it over HTTP: upload a folder, wait for its job, count and search."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from tests.integration.processes import PYTHON, ManagedProcess, free_port, wait_until

REDIS_URL = "redis://127.0.0.1:6379/5"
KB = "sample"
MAX_UPLOAD_BYTES = 2_000_000
JOB_TIMEOUT_S = 180.0


class KnowledgeStack:
    """The three processes, their URLs and environment."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.retrieval_port = free_port()
        self.ingestion_port = free_port()
        self.retrieval_url = f"http://127.0.0.1:{self.retrieval_port}"
        self.ingestion_url = f"http://127.0.0.1:{self.ingestion_port}"
        self.env = {
            **os.environ,
            "FINERAG_DATA_DIR": str(tmp / "data"),
            "FINERAG_REDIS_URL": REDIS_URL,
            "FINERAG_RETRIEVAL_URL": self.retrieval_url,
            "FINERAG_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            # Redeliver a dead worker's task after seconds, not the production hour.
            "FINERAG_INGEST_VISIBILITY_TIMEOUT_S": "4",
            "FINERAG_INGEST_RETRY_ATTEMPTS": "3",
            "FINERAG_INGEST_RETRY_BACKOFF_S": "0.2",
            "FINERAG_LOG_FORMAT": "text",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        self.processes: dict[str, ManagedProcess] = {}

    def start(self, target: str) -> ManagedProcess:
        argv = [PYTHON, "-m", "finerag", "serve", target]
        ready = None
        if target == "retrieval":
            argv += ["--port", str(self.retrieval_port)]
            ready = f"{self.retrieval_url}/ready"
        elif target == "ingestion":
            argv += ["--port", str(self.ingestion_port)]
            ready = f"{self.ingestion_url}/ready"
        process = ManagedProcess.start(
            target, argv, env=self.env, log_dir=self.tmp, ready_url=ready, ready_timeout_s=180
        )
        self.processes[target] = process
        return process

    def start_worker(self) -> ManagedProcess:
        worker = self.start("ingestion-worker")
        wait_until(
            lambda: "ready" in worker.log_tail(200) or not worker.alive(),
            timeout_s=60,
            what="celery worker ready",
        )
        assert worker.alive(), worker.log_tail()
        return worker

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()


def kb_files(kb_dir: Path) -> list[tuple[str, tuple[str, bytes]]]:
    """Multipart `files` entries named by their path relative to the knowledge base folder."""
    return [
        ("files", (path.relative_to(kb_dir).as_posix(), path.read_bytes()))
        for path in sorted(kb_dir.rglob("*"))
        if path.is_file()
    ]


def upload(client: httpx.Client, kb: str, files: list[Any]) -> dict[str, Any]:
    response = client.post(f"/v1/knowledge-bases/{kb}/documents", files=files)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert job["status"] == "queued"
    assert job["id"].startswith("ingjob-")
    return job


def wait_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/v1/ingestion-jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    result: dict[str, Any] = wait_until(finished, timeout_s=JOB_TIMEOUT_S, what=f"job {job_id}")
    return result


def points(retrieval: httpx.Client, kb: str) -> int:
    response = retrieval.get(f"/v1/collections/{kb}")
    assert response.status_code == 200, response.text
    return int(response.json()["points"])


def search(retrieval: httpx.Client, kb: str, query: str, **options: Any) -> list[dict[str, Any]]:
    response = retrieval.post(f"/v1/collections/{kb}/search", json={"query": query, **options})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def ingest_sample(client: httpx.Client, kb: str, kb_dir: Path) -> dict[str, Any]:
    """Upload the sample knowledge base into `kb`; the finished job, which must have succeeded."""
    job = wait_job(client, upload(client, kb, kb_files(kb_dir))["id"])
    assert job["status"] == "succeeded", job
    return job
