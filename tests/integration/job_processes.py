"""A gateway and a trainer worker as real processes, and the fine-tuning jobs API driven over
HTTP: create a job, read it, wait for a status."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from tests.integration.processes import ManagedProcess, free_port, wait_until
from tests.integration.training_budget import QUICK

# The first /v1/ request builds the gateway runtime (imports torch): allow for a slow machine.
HTTP = httpx.Client(timeout=120.0)


def start_gateway(env: dict[str, str], log_dir: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "4",
        "services.gateway.app:create_app()",
    ]
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess.start(
        "gateway", argv, env=env, log_dir=log_dir, ready_url=f"{url}/health"
    )
    return process, url


def start_worker(env: dict[str, str], log_dir: Path) -> ManagedProcess:
    argv = [sys.executable, "-c", "from services.trainer.worker import run_worker; run_worker()"]
    return ManagedProcess.start("trainer", argv, env=env, log_dir=log_dir)


def create_job(
    gateway: str,
    files: dict[str, str],
    model: str,
    evaluation: dict | None = None,
    **config: object,
) -> dict:
    body = {
        "model": model,
        "training_file": files["train"],
        "validation_file": files["validation"],
        "suffix": "acme",
        "config": {**QUICK, **config},
    }
    if evaluation is not None:
        body["evaluation"] = evaluation
    response = HTTP.post(f"{gateway}/v1/fine_tuning/jobs", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def get_job(gateway: str, job_id: str) -> dict:
    return HTTP.get(f"{gateway}/v1/fine_tuning/jobs/{job_id}").json()


def wait_status(gateway: str, job_id: str, statuses: set[str], timeout_s: float) -> dict:
    def reached() -> dict | None:
        job = get_job(gateway, job_id)
        return job if job["status"] in statuses else None

    return wait_until(
        reached,
        timeout_s=timeout_s,
        interval_s=1.0,
        what=f"job {job_id} to reach {statuses}",
    )
