"""The processes the hardening tests attack, and what every answer to them must look like.

The retrieval and ingestion services run with a service token, the gateway (tiny model, gunicorn)
with two API keys, one scoped to a single knowledge base.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from shared.contracts.schemas import Chunk
from tests.integration.gateway_processes import REDIS_TEST_URL
from tests.integration.processes import PYTHON, ManagedProcess, free_port

TOKEN = "service-token-for-the-hardening-tests"
KEY = "hardening-full-key"
SCOPED_KEY = "hardening-scoped-key"
OPEN_KB, HIDDEN_KB = "acme", "payroll"
DEEP = "[" * 100_000 + "]" * 100_000
RETRIEVAL_BODY_LIMIT = 200_000
UPLOAD_LIMIT = 100_000


def assert_wire_error(response: httpx.Response, status: int, param: str | None = None) -> str:
    """The response is `status` in the wire error shape; returns its message."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert "Traceback" not in error["message"]
    if param is not None:
        assert error["param"] == param, error
    return str(error["message"])


class Stack:
    """Retrieval and ingestion with a service token, and a gateway in front of retrieval."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.retrieval_url = f"http://127.0.0.1:{free_port()}"
        self.ingestion_url = f"http://127.0.0.1:{free_port()}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FINERAG_")},
            "FINERAG_DATA_DIR": str(tmp / "knowledge"),
            "FINERAG_REDIS_URL": REDIS_TEST_URL,
            "FINERAG_RETRIEVAL_URL": self.retrieval_url,
            "FINERAG_SERVICE_TOKEN": TOKEN,
            "FINERAG_RETRIEVAL_MAX_BODY_BYTES": str(RETRIEVAL_BODY_LIMIT),
            "FINERAG_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
            "FINERAG_LOG_FORMAT": "text",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        self.processes: list[ManagedProcess] = []

    def start(self, target: str, url: str) -> None:
        port = url.rsplit(":", 1)[1]
        self.processes.append(
            ManagedProcess.start(
                target,
                [PYTHON, "-m", "finerag", "serve", target, "--port", port],
                env=self.env,
                log_dir=self.tmp,
                ready_url=f"{url}/ready",
                ready_timeout_s=180,
            )
        )

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def chunk_body(kb: str, doc_id: str, text: str, position: int = 0) -> dict[str, Any]:
    return Chunk(
        id=f"{kb}:{doc_id}:{position}",
        kb=kb,
        doc_id=doc_id,
        doc_version="v1",
        source=doc_id,
        text=text,
        position=position,
    ).model_dump()


def chat_body(model: Path, content: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {
        "model": str(model),
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 3,
        "temperature": 0,
        **extra,
    }
