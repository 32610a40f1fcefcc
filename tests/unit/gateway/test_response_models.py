"""Every route's response body against its model and the openai SDK's own type.

Bodies come from the real routes (the app over the scripted backend, a registry in a temporary
folder, the job store on a dedicated Redis database). Each must come back unchanged through our
response model, so the model describes the wire exactly, and parse as the SDK's type with
FineRAG's fields kept as extras. Where the wire knowingly differs from the SDK's type, the test
names the field (the gaps below); a gap that closes or a new one fails it.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import openai.types as sdk
import pytest
import redis
from flask.testing import FlaskClient
from openai.pagination import SyncCursorPage, SyncPage
from openai.types.chat import ChatCompletion as SdkChatCompletion
from openai.types.chat import ChatCompletionChunk as SdkChatCompletionChunk
from openai.types.fine_tuning import FineTuningJob as SdkJob
from openai.types.fine_tuning import FineTuningJobEvent as SdkJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint as SdkCheckpoint
from pydantic import BaseModel, ValidationError

from services.gateway.api.responses import (
    ChatCompletion,
    ChatCompletionChunk,
    Feedback,
    Health,
    Model,
    Readiness,
    TextCompletion,
)
from services.gateway.app import create_app
from services.gateway.core.catalog import check_served, list_served_models
from services.gateway.core.generation import ModelInfo
from services.gateway.core.runtime import build_runtime
from shared.contracts.schemas import (
    CursorPage,
    FileObject,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    ListPage,
)
from shared.infrastructure.jobs import JobStore
from shared.infrastructure.registry import ModelCard, write_card
from shared.infrastructure.settings import Settings
from tests.unit.gateway.fakes import MemoryRedis, ScriptedBackend
from tests.unit.gateway.test_routes import OneDocRetrieval

REDIS_URL = "redis://127.0.0.1:6379/14"
TUNED = "ft:base:acme:00000001"
RAG = {"knowledge_base": "acme", "top_k": 2}
CHAT_LINE = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
QA_LINE = {"id": "q1", "question": "q?", "answer": "a", "type": "factual"}

# Where the wire departs from the SDK's types: location -> a value the SDK's type accepts. The
# SDK builds responses without validating them (unless a client sets strict response
# validation), so these reach its users as they are.
NO_SEED = {("seed",): 0}  # a job given no seed says null; OpenAI reports the seed it used
NO_CHECKPOINT_MODEL = {  # FineRAG's checkpoints are resumable states, not served models
    ("fine_tuned_model_checkpoint",): f"{TUNED}:ckpt-step-2"
}
EVALS_PURPOSE = {("purpose",): "fine-tune"}  # FineRAG's purpose; the SDK's Literal lacks it
# A streamed text completion's pieces before the last say finish_reason null, as OpenAI's own
# stream does; the SDK's `Completion` (which it reads each chunk as) requires one.
STREAMED_TEXT = {("choices", 0, "finish_reason"): "stop"}

Sdk = TypeVar("Sdk", bound=BaseModel)


def sdk_errors(sdk_type: type[BaseModel], body: Any) -> set[tuple[Any, ...]]:
    """Where the SDK's type refuses `body`."""
    try:
        sdk_type.model_validate(body)
    except ValidationError as exc:
        return {tuple(error["loc"]) for error in exc.errors()}
    return set()


def sdk_parse(
    sdk_type: type[Sdk], body: Any, gaps: dict[tuple[Any, ...], Any] | None = None
) -> Sdk:
    """`body` as the SDK's type; it is refused at the known `gaps` only, which are filled in."""
    gaps = gaps or {}
    assert sdk_errors(sdk_type, body) == set(gaps)
    patched = copy.deepcopy(body)
    for loc, value in gaps.items():
        *parents, last = loc
        target = patched
        for key in parents:
            target = target[key]
        target[last] = value
    return sdk_type.model_validate(patched)


def same_through(model: type[BaseModel], body: Any) -> Any:
    """Assert that our model reads `body` and writes it back key for key."""
    assert model.model_validate(body).model_dump(mode="json") == body
    return body


def sse_chunks(response: Any) -> list[dict[str, Any]]:
    lines = [line for line in response.get_data(as_text=True).split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[len("data: ") :]) for line in lines[:-1]]


class RegistryBackend(ScriptedBackend):
    """The scripted answers, with the models of a real registry folder."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def list_models(self) -> list[ModelInfo]:
        return list_served_models(self.settings)

    def check_model(self, model: str) -> None:
        check_served(self.settings, model)


@pytest.fixture
def jobs_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.ping()  # the suite needs Redis: no Redis is a failure, not a skip
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def client(tmp_path: Path, jobs_redis: redis.Redis) -> FlaskClient:
    settings = Settings(_env_file=None, data_dir=tmp_path, base_model="base", redis_url=REDIS_URL)
    folder = settings.models_dir / TUNED
    folder.mkdir(parents=True)
    write_card(folder, ModelCard(name=TUNED, base_model="base", promoted=False))
    runtime = build_runtime(
        settings,
        backend=RegistryBackend(settings),
        retrieval=OneDocRetrieval(),
        redis=MemoryRedis(),
    )
    return create_app(settings, runtime=runtime).test_client()


def _chat(client: FlaskClient, **body: Any) -> Any:
    messages = [{"role": "user", "content": "hi there"}]
    return client.post("/v1/chat/completions", json={"model": "base", "messages": messages, **body})


def test_a_rag_chat_completion_is_the_sdks_with_its_citations(client: FlaskClient):
    body = same_through(ChatCompletion, _chat(client, rag=RAG).json)
    completion = sdk_parse(SdkChatCompletion, body)
    assert completion.model_extra is not None
    assert completion.model_extra["citations"] == body["citations"]
    assert body["citations"][0] == {
        "index": 1,
        "chunk_id": "c1",
        "doc_id": "pricing.md",
        "source": "kb/pricing.md",
        "section": "Plans",
        "score": 0.8,
    }
    assert completion.usage is not None
    assert completion.usage.total_tokens == body["usage"]["total_tokens"]


def test_a_chat_completion_without_rag_has_no_citations_key(client: FlaskClient):
    body = same_through(ChatCompletion, _chat(client).json)
    assert "citations" not in body
    assert sdk_parse(SdkChatCompletion, body).choices[0].message.content == "echo: hi there"


def test_every_chat_chunk_is_the_sdks_and_the_first_carries_the_citations(client: FlaskClient):
    response = _chat(client, rag=RAG, stream=True, stream_options={"include_usage": True})
    chunks = [same_through(ChatCompletionChunk, c) for c in sse_chunks(response)]
    parsed = [sdk_parse(SdkChatCompletionChunk, c) for c in chunks]
    assert parsed[0].choices[0].delta.role == "assistant"
    assert parsed[0].model_extra is not None
    assert parsed[0].model_extra["citations"][0]["doc_id"] == "pricing.md"
    assert all("citations" not in c for c in chunks[1:])
    assert all(c["usage"] is None for c in chunks[:-1])
    assert parsed[-1].choices == []
    assert parsed[-1].usage is not None
    assert parsed[-1].usage.completion_tokens > 0


def test_a_chat_stream_without_usage_leaves_the_usage_key_out(client: FlaskClient):
    chunks = [same_through(ChatCompletionChunk, c) for c in sse_chunks(_chat(client, stream=True))]
    assert all("usage" not in c for c in chunks)
    assert sdk_parse(SdkChatCompletionChunk, chunks[-1]).choices[0].finish_reason == "length"


def test_a_text_completion_and_its_stream_are_the_sdks_completion(client: FlaskClient):
    whole = {"model": TUNED, "prompt": "once upon"}
    body = same_through(TextCompletion, client.post("/v1/completions", json=whole).json)
    assert sdk_parse(sdk.Completion, body).choices[0].text == "echo: once upon"
    streamed = {**whole, "stream": True, "stream_options": {"include_usage": True}}
    chunks = [
        same_through(TextCompletion, c)
        for c in sse_chunks(client.post("/v1/completions", json=streamed))
    ]
    *pieces, last, usage = chunks
    for piece in pieces:
        sdk_parse(sdk.Completion, piece, STREAMED_TEXT)
    assert sdk_parse(sdk.Completion, last).choices[0].finish_reason == "length"
    assert sdk_parse(sdk.Completion, usage).usage == sdk.CompletionUsage(**body["usage"])


def test_models_are_the_sdks_with_the_promoted_flag(client: FlaskClient):
    listed = same_through(ListPage[Model], client.get("/v1/models?all=true").json)
    page = sdk_parse(SyncPage[sdk.Model], listed)
    agents = ["agent:research", "agent:calculate", "agent:support"]
    assert [m.id for m in page.data] == ["base", TUNED, *agents]
    assert page.data[0].model_extra is not None
    assert "promoted" not in page.data[0].model_extra  # the base is not a registry entry
    one = same_through(Model, client.get(f"/v1/models/{TUNED}").json)
    model = sdk_parse(sdk.Model, one)
    assert model.model_extra == {"root": "base", "parent": "base", "promoted": False}
    default = client.get("/v1/models").json  # an unpromoted model is listed only on request
    assert [m["id"] for m in same_through(ListPage[Model], default)["data"]] == ["base", *agents]


def test_feedback_health_and_ready_bodies(client: FlaskClient):
    completion_id = _chat(client).json["id"]
    stored = client.post("/v1/feedback", json={"completion_id": completion_id, "rating": "up"})
    assert stored.status_code == 201
    assert same_through(Feedback, stored.json)["completion_id"] == completion_id
    assert same_through(Health, client.get("/health").json) == {"status": "ok"}
    ready = same_through(Readiness, client.get("/ready").json)
    assert ready["checks"] == {"model": "ok", "retrieval": "ok"}


def _upload(client: FlaskClient, line: dict[str, Any], purpose: str) -> dict[str, Any]:
    data = {"purpose": purpose, "file": (io.BytesIO(json.dumps(line).encode()), "f.jsonl")}
    response = client.post("/v1/files", data=data)
    assert response.status_code == 200, response.json
    return same_through(FileObject, response.json)


def test_files_are_the_sdks_file_objects_with_their_counts(client: FlaskClient):
    train = _upload(client, CHAT_LINE, "fine-tune")
    evals = _upload(client, QA_LINE, "evals")
    assert sdk_parse(sdk.FileObject, train).model_extra == {"conversations": 1}
    assert sdk_parse(sdk.FileObject, evals, EVALS_PURPOSE).model_extra == {"cases": 1}
    listed = same_through(ListPage[FileObject], client.get("/v1/files").json)
    assert {f["id"] for f in listed["data"]} == {train["id"], evals["id"]}
    one = same_through(FileObject, client.get(f"/v1/files/{train['id']}").json)
    assert sdk_parse(sdk.FileObject, one).bytes == train["bytes"]


def test_jobs_events_and_checkpoints_are_the_sdks(client: FlaskClient):
    training_file = _upload(client, CHAT_LINE, "fine-tune")["id"]
    created = client.post(
        "/v1/fine_tuning/jobs", json={"model": "base", "training_file": training_file, "seed": 7}
    )
    job = same_through(FineTuningJob, created.json)
    parsed = sdk_parse(SdkJob, job)
    assert parsed.status == "queued"
    assert parsed.seed == 7
    assert parsed.model_extra is not None
    assert parsed.model_extra["training_method"] == "qlora"
    assert parsed.model_extra["quantization"] == "4bit"
    assert "worker" not in job
    assert "fine_tuned_model_name" not in job

    # A worker runs it: status changes, a step's metrics, a checkpoint, the release gate.
    store = JobStore.from_url(REDIS_URL)
    token = store.acquire_lease(job["id"], "worker-1", 30)
    assert token is not None
    store.set_status(job["id"], "running", token=token, worker="worker-1")
    step = {"step": 2, "max_steps": 4, "loss": 1.5}
    store.add_event(job["id"], "info", "Step 2/4", data=step, token=token)
    store.add_checkpoint(job["id"], 2, "/data/runs/checkpoint-2", {"train_loss": 1.5}, token=token)
    verdict = {"passed": True, "rules": []}
    store.set_status(
        job["id"],
        "succeeded",
        token=token,
        fine_tuned_model=TUNED,
        trained_tokens=640,
        metrics={"train_loss": 1.25},
        promoted=True,
        release_gate=verdict,
    )
    done = same_through(FineTuningJob, client.get(f"/v1/fine_tuning/jobs/{job['id']}").json)
    finished = sdk_parse(SdkJob, done)
    assert finished.fine_tuned_model == TUNED
    assert finished.model_extra is not None
    assert finished.model_extra["promoted"] is True
    assert finished.model_extra["release_gate"] == verdict
    assert "worker" not in done

    events = same_through(
        CursorPage[FineTuningJobEvent],
        client.get(f"/v1/fine_tuning/jobs/{job['id']}/events").json,
    )
    page = sdk_parse(SyncCursorPage[SdkJobEvent], events)
    metrics = next(e for e in page.data if e.type == "metrics")
    assert metrics.data == step
    assert metrics.model_extra == {"fencing_token": token}
    assert page.has_more is False

    checkpoints = same_through(
        CursorPage[FineTuningJobCheckpoint],
        client.get(f"/v1/fine_tuning/jobs/{job['id']}/checkpoints").json,
    )
    (checkpoint,) = checkpoints["data"]
    assert "path" not in checkpoint  # a server folder is never shown
    parsed_checkpoint = sdk_parse(SdkCheckpoint, checkpoint, NO_CHECKPOINT_MODEL)
    assert parsed_checkpoint.metrics.train_loss == 1.5
    assert parsed_checkpoint.model_extra == {"fencing_token": token}


def test_a_job_list_a_cancel_and_a_failure_are_the_sdks(client: FlaskClient):
    training_file = _upload(client, CHAT_LINE, "fine-tune")["id"]
    body = {"model": "base", "training_file": training_file}
    first = client.post("/v1/fine_tuning/jobs", json=body).json
    second = client.post("/v1/fine_tuning/jobs", json=body).json
    listed = same_through(
        CursorPage[FineTuningJob], client.get("/v1/fine_tuning/jobs?limit=1").json
    )
    assert listed["has_more"] is True
    (newest,) = listed["data"]
    assert newest["id"] in (first["id"], second["id"])
    sdk_parse(SdkJob, newest, NO_SEED)
    cancelled = same_through(
        FineTuningJob, client.post(f"/v1/fine_tuning/jobs/{first['id']}/cancel").json
    )
    assert sdk_parse(SdkJob, cancelled, NO_SEED).status == "cancelled"

    store = JobStore.from_url(REDIS_URL)
    error = {"code": "training_error", "message": "RuntimeError: boom", "param": None}
    store.set_status(second["id"], "failed", error={**error, "trace": "RuntimeError: boom"})
    failed = same_through(FineTuningJob, client.get(f"/v1/fine_tuning/jobs/{second['id']}").json)
    parsed = sdk_parse(SdkJob, failed, NO_SEED)
    assert parsed.error is not None
    assert parsed.error.message == "RuntimeError: boom"
    assert parsed.error.model_extra == {"trace": "RuntimeError: boom"}
