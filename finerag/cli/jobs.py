"""`finerag jobs submit|list|show|cancel|events`: the gateway's fine-tuning API from a shell."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx

from shared.contracts.errors import InvalidRequestError, ServiceUnavailableError, UpstreamError
from shared.infrastructure.settings import get_settings


def register(subparsers: Any) -> None:
    """Add `finerag jobs ...`."""
    jobs = subparsers.add_parser(
        "jobs", help="fine-tuning jobs on the gateway (FINERAG_GATEWAY_URL)"
    )
    actions = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    submit = actions.add_parser("submit", help="upload a chat JSONL file and queue a job")
    submit.add_argument("--model", required=True, help="base model (FINERAG_BASE_MODEL value)")
    submit.add_argument("--train", type=Path, required=True, help="training chat JSONL")
    submit.add_argument("--validation", type=Path, default=None, help="validation chat JSONL")
    submit.add_argument("--suffix", default=None, help="name suffix of the fine-tuned model")
    submit.add_argument("--epochs", type=int, default=None, help="n_epochs")
    submit.add_argument("--method", choices=("qlora", "lora"), default="qlora")
    submit.add_argument("--set", action="append", default=[], metavar="key=value",
                        help="recipe override, repeatable (e.g. --set max_steps=40)")  # fmt: skip
    submit.set_defaults(func=_submit)

    for name, help_text in (
        ("list", "jobs, newest first"),
        ("show", "one job"),
        ("cancel", "stop a job"),
        ("events", "a job's events (step, loss, eval loss, tokens/s, ETA)"),
    ):
        action = actions.add_parser(name, help=help_text)
        if name != "list":
            action.add_argument("job_id", metavar="JOB_ID")
        action.set_defaults(func=_simple, action=name)


def _client() -> httpx.Client:
    settings = get_settings()
    if not settings.gateway_url:
        raise InvalidRequestError(
            "set FINERAG_GATEWAY_URL to the gateway (e.g. http://127.0.0.1:8000)"
        )
    headers = {}
    if settings.api_keys:
        headers["Authorization"] = f"Bearer {settings.api_keys[0].key.get_secret_value()}"
    return httpx.Client(base_url=settings.gateway_url, headers=headers, timeout=120.0)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise ServiceUnavailableError(f"gateway unreachable: {exc}") from exc
    if response.status_code >= 400:
        error = response.json().get("error", {}) if response.content else {}
        raise UpstreamError(f"{response.status_code}: {error.get('message', response.text)}")
    return response.json()


def _upload(client: httpx.Client, path: Path) -> str:
    with path.open("rb") as handle:
        record = _call(
            client, "POST", "/v1/files",
            files={"file": (path.name, handle)}, data={"purpose": "fine-tune"},
        )  # fmt: skip
    return str(record["id"])


def _submit(args: argparse.Namespace) -> int:
    from services.trainer.config import parse_overrides

    with _client() as client:
        body: dict[str, Any] = {
            "model": args.model,
            "training_file": _upload(client, args.train),
            "method": args.method,
            "config": parse_overrides(args.set),
        }
        if args.validation:
            body["validation_file"] = _upload(client, args.validation)
        if args.suffix:
            body["suffix"] = args.suffix
        if args.epochs:
            body["hyperparameters"] = {"n_epochs": args.epochs}
        job = _call(client, "POST", "/v1/fine_tuning/jobs", json=body)
    print(json.dumps(job, indent=2))
    return 0


def _simple(args: argparse.Namespace) -> int:
    paths = {
        "list": ("GET", "/v1/fine_tuning/jobs"),
        "show": ("GET", "/v1/fine_tuning/jobs/{id}"),
        "cancel": ("POST", "/v1/fine_tuning/jobs/{id}/cancel"),
        "events": ("GET", "/v1/fine_tuning/jobs/{id}/events"),
    }
    method, path = paths[args.action]
    with _client() as client:
        body = _call(client, method, path.format(id=getattr(args, "job_id", "")))
    if args.action == "list":
        for job in body["data"]:
            tuned = job.get("fine_tuned_model") or ""
            print(f"{job['id']}  {job['status']:<10}  {job['model']}  {tuned}")
    elif args.action == "events":
        for event in reversed(body["data"]):
            print(f"{event['created_at']}  {event['level']:<5}  {event['message']}")
    else:
        print(json.dumps(body, indent=2))
    return 0
