"""Redis stops mid-job and starts again: the job still ends exactly once, and fenced.

A private redis-server (append-only file, fsync on every write, so a restart keeps the jobs)
serves a real gateway and a real trainer worker. While the tiny model trains, Redis is stopped
for longer than the lease, then started on the same port and folder. The worker's heartbeat
cannot renew, so training stops at its next step; the recovery sweep finds the job running
with no lease and re-queues it; a new attempt, under a new fencing token, resumes from the
last checkpoint and finishes. Every event and checkpoint record says which token wrote it: once
the second token has written, nothing written by the first may follow.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.integration.processes import ManagedProcess, free_port, wait_until
from tests.integration.training_budget import QUICK

pytestmark = pytest.mark.integration

LEASE_TTL_S = 3
OUTAGE_S = 4 * LEASE_TTL_S
HTTP = httpx.Client(timeout=120.0)
MAX_STEPS = 14


class PrivateRedis:
    """A redis-server of this test's own, durable across a stop and a start."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
        ]  # fmt: skip
        self.process = ManagedProcess.start(
            "redis", argv, env=dict(os.environ), log_dir=self.folder
        )
        wait_until(self._answers, timeout_s=30, what="the private redis-server")

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()  # SIGTERM: redis flushes its AOF and exits


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not on PATH (the suite needs Redis installed)")
    server = PrivateRedis(tmp_path_factory.mktemp("private-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(private_redis: PrivateRedis, tmp_path_factory, tiny_model_dir: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("FINERAG_")}
    values.update(
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        FINERAG_DATA_DIR=str(tmp_path_factory.mktemp("faults-data")),
        FINERAG_REDIS_URL=private_redis.url,
        FINERAG_BASE_MODEL=str(tiny_model_dir),
        FINERAG_TRAIN_CONFIG="tiny_qlora.yaml",
        FINERAG_TRAIN_LEASE_TTL_S=str(LEASE_TTL_S),
        FINERAG_LOG_FORMAT="text",
    )
    return values


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults-logs")


@pytest.fixture(scope="module")
def gateway(env: dict[str, str], logs: Path) -> Iterator[str]:
    port = free_port()
    argv = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--threads", "4", "services.gateway.app:create_app()",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess.start(
        "gateway", argv, env=env, log_dir=logs, ready_url=f"{url}/health"
    )
    yield url
    process.stop()


@pytest.fixture(scope="module")
def worker(env: dict[str, str], logs: Path) -> Iterator[ManagedProcess]:
    argv = [sys.executable, "-c", "from services.trainer.worker import run_worker; run_worker()"]
    process = ManagedProcess.start("trainer", argv, env=env, log_dir=logs)
    yield process
    process.stop()


def _upload(gateway: str, name: str, lines: list[str]) -> str:
    response = HTTP.post(
        f"{gateway}/v1/files",
        files={"file": (f"{name}.jsonl", "\n".join(lines).encode())},
        data={"purpose": "fine-tune"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _get(gateway: str, path: str) -> Any:
    return HTTP.get(f"{gateway}{path}").json()


def _written_after(records: list[dict[str, Any]], token: int) -> list[dict[str, Any]]:
    """Records (oldest first) that an older token wrote after `token` first wrote."""
    tokens = [r.get("fencing_token") for r in records]
    if token not in tokens:
        return []
    first = tokens.index(token)
    return [r for r in records[first:] if r.get("fencing_token") not in (None, token)]


def test_redis_stopped_mid_job_ends_it_exactly_once_with_no_fenced_out_write(
    gateway: str,
    worker: ManagedProcess,
    private_redis: PrivateRedis,
    sample_dataset: Path,
    tiny_model_dir: Path,
):
    lines = (sample_dataset / "train.jsonl").read_text().splitlines()
    response = HTTP.post(
        f"{gateway}/v1/fine_tuning/jobs",
        json={
            "model": str(tiny_model_dir),
            "training_file": _upload(gateway, "train", lines[:48]),
            "validation_file": _upload(gateway, "validation", lines[-6:]),
            "config": {**QUICK, "max_steps": MAX_STEPS},
        },
    )
    assert response.status_code == 200, response.text
    job = response.json()
    job_id = job["id"]
    wait_until(
        lambda: _get(gateway, f"/v1/fine_tuning/jobs/{job_id}/checkpoints")["data"],
        timeout_s=900,
        interval_s=0.5,
        what="a first checkpoint",
    )

    private_redis.stop()
    time.sleep(OUTAGE_S)  # longer than the lease: it lapses while nobody can renew it
    private_redis.start()

    def finished() -> dict[str, Any] | None:
        try:
            record = _get(gateway, f"/v1/fine_tuning/jobs/{job_id}")
        except (httpx.HTTPError, ValueError):
            return None
        return record if record.get("status") in ("succeeded", "failed", "cancelled") else None

    done = wait_until(finished, timeout_s=900, interval_s=1.0, what=f"job {job_id} to end")
    assert done["status"] == "succeeded", (done.get("error"), worker.log_tail(80))
    assert done["attempts"] == 2, "the outage ended the first attempt; a second one finished"

    events = list(
        reversed(_get(gateway, f"/v1/fine_tuning/jobs/{job_id}/events?limit=100")["data"])
    )
    checkpoints = list(
        reversed(_get(gateway, f"/v1/fine_tuning/jobs/{job_id}/checkpoints")["data"])
    )
    assert sum(e["message"] == "Job succeeded" for e in events) == 1
    assert {c["fencing_token"] for c in checkpoints} == {1, 2}, checkpoints
    assert _written_after(events, 2) == []
    assert _written_after(checkpoints, 2) == []
    resumed = [e["data"].get("resumed_from_step") for e in events if "attempt" in e["data"]]
    assert resumed[0] is None, resumed
    assert (resumed[1] or 0) >= 2, resumed
    assert max(e["data"]["step"] for e in events if e["type"] == "metrics") == MAX_STEPS
