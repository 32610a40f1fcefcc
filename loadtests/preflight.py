"""Before the load starts: find the model, check the knowledge base, have a job to poll.

A stack that is not ready fails here with one clear message instead of a run full of errors.
"""

from __future__ import annotations

import json

import requests

from loadtests.users import Target

TIMEOUT_S = 30.0

# Two conversations: enough for the gateway to accept a training file.
_TRAINING_LINES = [
    {
        "messages": [
            {"role": "user", "content": "What is the return window?"},
            {"role": "assistant", "content": "Thirty days from delivery [1]."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Who makes the Aurora X2?"},
            {"role": "assistant", "content": "The company's own hardware team [1]."},
        ]
    },
]


class PreflightError(Exception):
    """The stack is not ready for a load test; the message says what to do."""


def _get(url: str, headers: dict[str, str] | None = None) -> requests.Response:
    try:
        return requests.get(url, headers=headers, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise PreflightError(f"nothing answers at {url} ({exc}); is the stack up?") from exc


def discover_model(gateway: str, headers: dict[str, str]) -> str:
    """The first model the gateway serves (its base model)."""
    response = _get(f"{gateway}/v1/models", headers)
    if response.status_code != 200:
        raise PreflightError(f"GET {gateway}/v1/models answered {response.status_code}")
    models = response.json().get("data") or []
    if not models:
        raise PreflightError(f"the gateway at {gateway} serves no model")
    return str(models[0]["id"])


def check_knowledge_base(retrieval: str, kb: str) -> None:
    """Fail unless the retrieval service holds the knowledge base."""
    response = _get(f"{retrieval}/v1/collections/{kb}")
    if response.status_code == 404:
        raise PreflightError(
            f"knowledge base {kb!r} is not on the retrieval service at {retrieval}; ingest one "
            f"first, e.g. FINERAG_INGESTION_URL=... finerag ingest DOCS --kb {kb}"
        )
    if response.status_code != 200:
        raise PreflightError(f"GET {retrieval}/v1/collections/{kb} answered {response.status_code}")


def ensure_job(gateway: str, model: str, headers: dict[str, str], *, create: bool) -> list[str]:
    """Ids of jobs to poll; when there are none and `create`, create one and cancel it at once.

    A stack without a trainer never starts the job; a running trainer may pick it up first and
    stops it within one training step (after loading the base model).
    """
    response = _get(f"{gateway}/v1/fine_tuning/jobs?limit=20", headers)
    if response.status_code != 200:
        raise PreflightError(f"GET /v1/fine_tuning/jobs answered {response.status_code}")
    ids = [job["id"] for job in response.json().get("data", [])]
    if ids or not create:
        return ids
    content = "\n".join(json.dumps(line) for line in _TRAINING_LINES).encode()
    uploaded = requests.post(
        f"{gateway}/v1/files",
        files={"file": ("loadtest.jsonl", content)},
        data={"purpose": "fine-tune"},
        headers=headers,
        timeout=TIMEOUT_S,
    )
    if uploaded.status_code != 200:
        raise PreflightError(f"uploading a training file failed: {uploaded.text[:300]}")
    created = requests.post(
        f"{gateway}/v1/fine_tuning/jobs",
        json={"model": model, "training_file": uploaded.json()["id"], "suffix": "loadtest"},
        headers=headers,
        timeout=TIMEOUT_S,
    )
    if created.status_code != 200:
        raise PreflightError(f"creating a job to poll failed: {created.text[:300]}")
    job_id = str(created.json()["id"])
    requests.post(
        f"{gateway}/v1/fine_tuning/jobs/{job_id}/cancel", headers=headers, timeout=TIMEOUT_S
    )
    return [job_id]


def prepare(
    target: Target, gateway: str, retrieval: str, *, model: str = "", create_job: bool = True
) -> None:
    """Fill in `target` from the running stack."""
    headers = target.headers()
    target.model = model or discover_model(gateway, headers)
    check_knowledge_base(retrieval, target.knowledge_base)
    target.job_ids = ensure_job(gateway, target.model, headers, create=create_job)
