"""The Locust users: what each kind of client of a FineRAG stack does, and how it is checked.

Each class has a `profile_key`; the profile (`loadtests/profiles.py`) sets its weight and think
time. Every request is checked beyond its status code (a chat answer has a choice, a RAG answer
has citations, a stream ends with `[DONE]`), so a 200 with a broken body counts as a failure.
What the users aim at (model, knowledge base, answer length) is in `TARGET`, filled in by the
locustfile when the test starts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests
from locust import HttpUser, between, task

from loadtests.sse import StreamError, carries_output, chunks
from loadtests.thresholds import TTFT_TYPE

CHAT_PATH = "/v1/chat/completions"
STREAM_NAME = f"{CHAT_PATH} [stream]"
RAG_NAME = f"{CHAT_PATH} [rag]"
CONNECT_TIMEOUT_S = 10.0

# Questions in the style of the sample domain's; any question exercises the same code paths.
QUESTIONS = (
    "What is the price of the Aurora X2?",
    "How long is the return window for thermostats?",
    "Which warranty covers the outdoor sensors?",
    "How do I reset the hub to factory settings?",
    "What does the premium support plan include?",
    "Can I return an opened product after 45 days?",
    "Which products work without a hub?",
    "Who is the chief executive of the company?",
)


@dataclass
class Target:
    """What the users aim at; set once when the test starts."""

    model: str = ""
    knowledge_base: str = "acme"
    max_tokens: int = 8
    timeout_s: float = 120.0  # read timeout: a slower request is a failure
    rag_top_k: int = 3
    retrieval_url: str = "http://127.0.0.1:8001"  # search users call the retrieval service
    api_key: str = ""  # sent as a Bearer token when the gateway requires keys
    job_ids: list[str] = field(default_factory=list)

    def timeouts(self) -> tuple[float, float]:
        """(connect, read) timeouts of every request."""
        return CONNECT_TIMEOUT_S, self.timeout_s

    def headers(self) -> dict[str, str]:
        """The headers every gateway request carries."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


TARGET = Target()


def chat_body(*, stream: bool = False, rag: bool = False) -> dict[str, Any]:
    """A chat completion request for a random question."""
    body: dict[str, Any] = {
        "model": TARGET.model,
        "messages": [{"role": "user", "content": random.choice(QUESTIONS)}],
        "max_tokens": TARGET.max_tokens,
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
    if rag:
        body["rag"] = {"knowledge_base": TARGET.knowledge_base, "top_k": TARGET.rag_top_k}
    return body


Check = Callable[[dict[str, Any]], str | None]  # a body -> why it is wrong, or None


class _Checked(HttpUser):
    """An HttpUser whose requests time out instead of hanging and whose bodies are checked."""

    abstract = True
    profile_key: ClassVar[str] = ""
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.headers.update(TARGET.headers())

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str | None = None,
        body: dict[str, Any] | None = None,
        check: Check | None = None,
    ) -> None:
        """One request; a non-2xx, a body that is not a JSON object or fails `check` fails."""
        with self.client.request(
            method, path, json=body, name=name, timeout=TARGET.timeouts(), catch_response=True
        ) as response:
            problem = _problem(response, check)
            if problem:
                response.failure(problem)


def _problem(response: Any, check: Check | None) -> str | None:
    if not response.ok:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    try:
        body = response.json()
    except ValueError:
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    return check(body) if check else None


def _has_choices(body: dict[str, Any]) -> str | None:
    return None if body.get("choices") else "no choices in the answer"


def _has_citations(body: dict[str, Any]) -> str | None:
    return _has_choices(body) or (None if body.get("citations") else "RAG answer without citations")


class ChatUser(_Checked):
    """Plain chat completions: the model alone."""

    profile_key = "chat"

    @task
    def chat(self) -> None:
        self.call("POST", CHAT_PATH, body=chat_body(), check=_has_choices)


class RagChatUser(_Checked):
    """Chat completions grounded in the knowledge base: retrieval, prompt, generation."""

    profile_key = "rag_chat"

    @task
    def rag_chat(self) -> None:
        self.call("POST", CHAT_PATH, name=RAG_NAME, body=chat_body(rag=True), check=_has_citations)


class StreamingChatUser(_Checked):
    """Streamed chat completions; time to first token is recorded as its own entry.

    The stream is read with a plain requests session (Locust's client would report the time to
    the response headers), and reported as two entries: the whole stream (`POST`) and the time
    until the first chunk that carries generated output (`TTFT`).
    """

    profile_key = "stream_chat"

    def on_start(self) -> None:
        self.stream_session = requests.Session()
        self.stream_session.headers.update(TARGET.headers())

    def on_stop(self) -> None:
        self.stream_session.close()

    @task
    def stream_chat(self) -> None:
        started = time.perf_counter()
        with (
            self.environment.events.request.measure("POST", STREAM_NAME) as meta,
            self.stream_session.post(
                f"{self.host}{CHAT_PATH}",
                json=chat_body(stream=True),
                stream=True,
                timeout=TARGET.timeouts(),
            ) as response,
        ):
            if not response.ok:
                raise StreamError(f"HTTP {response.status_code}: {response.text[:200]}")
            meta["response_length"] = self._read_stream(response, started)

    def _read_stream(self, response: requests.Response, started: float) -> int:
        """Read the stream to `[DONE]`, reporting the time to first token; returns bytes read."""
        size = 0

        def counted(lines: Iterator[bytes]) -> Iterator[bytes]:
            nonlocal size
            for line in lines:
                size += len(line) + 1
                yield line

        first_token = False
        for chunk in chunks(counted(response.iter_lines())):
            if not first_token and carries_output(chunk):
                first_token = True
                self.environment.events.request.fire(
                    request_type=TTFT_TYPE,
                    name=STREAM_NAME,
                    response_time=(time.perf_counter() - started) * 1000,
                    response_length=0,
                    exception=None,
                    context={},
                )
        return size


class RetrievalSearchUser(_Checked):
    """Hybrid search straight against the retrieval service (`--retrieval-host`)."""

    profile_key = "retrieval_search"

    def on_start(self) -> None:
        # Locust gives every class the --host (the gateway); search goes to the retrieval service.
        self.client.base_url = TARGET.retrieval_url

    @task
    def search(self) -> None:
        self.call(
            "POST",
            f"/v1/collections/{TARGET.knowledge_base}/search",
            name="/v1/collections/[kb]/search",
            body={"query": random.choice(QUESTIONS), "top_k": 5, "mode": "hybrid"},
            check=lambda found: None if "hits" in found else "no 'hits' in the search response",
        )


class JobStatusUser(_Checked):
    """A client polling fine-tuning jobs: one job, its events, and the job list."""

    profile_key = "job_status"

    @task(4)
    def job(self) -> None:
        if TARGET.job_ids:
            job_id = random.choice(TARGET.job_ids)
            self.call(
                "GET",
                f"/v1/fine_tuning/jobs/{job_id}",
                name="/v1/fine_tuning/jobs/[id]",
                check=lambda job: None if job.get("id") == job_id else f"not job {job_id}",
            )

    @task(2)
    def events(self) -> None:
        if TARGET.job_ids:
            job_id = random.choice(TARGET.job_ids)
            self.call(
                "GET",
                f"/v1/fine_tuning/jobs/{job_id}/events",
                name="/v1/fine_tuning/jobs/[id]/events",
            )

    @task(1)
    def jobs(self) -> None:
        self.call("GET", "/v1/fine_tuning/jobs?limit=10", name="/v1/fine_tuning/jobs")


USER_CLASSES: tuple[type[_Checked], ...] = (
    ChatUser,
    RagChatUser,
    StreamingChatUser,
    RetrievalSearchUser,
    JobStatusUser,
)
