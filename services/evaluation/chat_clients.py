"""How the evaluation reaches a model: one interface, an OpenAI-compatible HTTP client, and an
in-process client over `shared.models.loading`.

Both generate greedily (temperature 0), so a run is repeatable. The HTTP client speaks plain
`POST /v1/chat/completions` (the FineRAG gateway, vLLM, or any OpenAI-compatible server); the
evaluation builds the grounded messages itself, so the server needs no RAG extension. The
in-process client generates through the gateway's own engine (`shared.models.generation`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from shared.contracts.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
)
from shared.contracts.prompts import Message, render_prompt
from shared.infrastructure.registry import read_card
from shared.models.loading import Quantization

if TYPE_CHECKING:  # the engine imports torch: only the in-process client loads it
    from shared.models.generation.engine import Engine

log = logging.getLogger("finerag.evaluation")


@dataclass(frozen=True)
class ChatRequest:
    """One greedy chat completion."""

    model: str
    messages: Sequence[Message]
    max_tokens: int


@dataclass(frozen=True)
class ChatResult:
    """The reply; `finish_reason` is "stop" when the model ended its turn, "length" when it hit
    max_tokens, "error" when no reply came (`error` says why)."""

    text: str
    finish_reason: str
    error: str | None = None


class ChatClient(Protocol):
    """What the evaluation needs from a model server."""

    def check_models(self, models: Sequence[str]) -> None:
        """Raise NotFoundError naming the first model that is not served."""
        ...

    def complete(
        self, requests: Sequence[ChatRequest], on_done: Callable[[], None] | None = None
    ) -> list[ChatResult]:
        """Answer every request (in order); failures come back as results, not exceptions.
        `on_done` is called once per request answered (a progress bar's tick)."""
        ...

    def close(self) -> None:
        """Release the model or the connection pool."""
        ...


def openai_base_url(url: str) -> str:
    """`http://host:8000` or `http://host:8000/v1` → `http://host:8000/v1`."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


class HttpChatClient:
    """Any OpenAI-compatible server over HTTP; `concurrency` requests in flight at once (the
    gateway batches concurrent requests into one generation)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 300.0,
        concurrency: int = 8,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = openai_base_url(base_url)
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )
        self._concurrency = max(1, concurrency)
        self._retries = retries

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> HttpChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_models(self) -> list[dict[str, Any]]:
        """`GET /v1/models`."""
        response = self._send("GET", "/models")
        _raise_for_caller_error(response, self.base_url)
        if not response.is_success:
            raise ServiceUnavailableError(
                f"{self.base_url}/models answered {response.status_code}: {response.text[:200]}"
            )
        return list(response.json().get("data", []))

    def check_models(self, models: Sequence[str]) -> None:
        """NotFoundError for a model the server does not list."""
        served = [str(m.get("id")) for m in self.list_models()]
        for model in models:
            if model not in served:
                raise NotFoundError(
                    f"The endpoint {self.base_url} does not serve the model {model!r}; "
                    f"it serves {served}.",
                    param="model",
                    code="model_not_found",
                )

    def complete(
        self, requests: Sequence[ChatRequest], on_done: Callable[[], None] | None = None
    ) -> list[ChatResult]:
        """Send the requests concurrently; results come back in request order."""
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            return _in_order(pool.map(self._complete_one, requests), on_done)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(
                f"the endpoint {self.base_url} is unreachable: {exc}"
            ) from exc

    def _complete_one(self, request: ChatRequest) -> ChatResult:
        body = {
            "model": request.model,
            "messages": [dict(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": 0,
            "seed": 0,
        }
        last_error = ""
        for _attempt in range(self._retries + 1):
            try:
                response = self._send("POST", "/chat/completions", json=body)
            except ServiceUnavailableError as exc:
                last_error = exc.message
                continue
            _raise_for_caller_error(response, self.base_url, request.model)
            if response.status_code >= 500 or response.status_code == 429:
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if not response.is_success:  # this request is the problem (e.g. too long)
                return ChatResult("", "error", f"HTTP {response.status_code}: {_message(response)}")
            try:
                choice = response.json()["choices"][0]
                text = choice["message"]["content"] or ""
                reason = str(choice.get("finish_reason") or "unknown")
            except (ValueError, KeyError, IndexError, TypeError):
                return ChatResult("", "error", f"unreadable response: {response.text[:200]}")
            return ChatResult(str(text), reason)
        return ChatResult("", "error", last_error)


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def _in_order(
    results: Iterable[ChatResult], on_done: Callable[[], None] | None
) -> list[ChatResult]:
    done = []
    for result in results:
        done.append(result)
        if on_done is not None:
            on_done()
    return done


def _raise_for_caller_error(response: httpx.Response, url: str, model: str | None = None) -> None:
    """Errors no retry or other case can fix: bad key, unknown model."""
    if response.status_code == 401:
        raise AuthenticationError(f"{url} refused the API key: {_message(response)}")
    if response.status_code == 404:
        what = f"the model {model!r}" if model else "the OpenAI API"
        raise NotFoundError(f"{url} does not serve {what}: {_message(response)}", param="model")


def warn_of_failures(results: Sequence[ChatResult]) -> None:
    """Log how many generations got no reply: they are scored as wrong answers (the report's
    `behaviour.error_rate`), and a run where all of them failed must not pass for a bad model."""
    failed = [result.error for result in results if result.finish_reason == "error"]
    if failed:
        log.warning(
            "%d of %d generations got no reply (first: %s); they count as wrong answers",
            len(failed),
            len(results),
            failed[0],
        )


class LocalChatClient:
    """The base model and registry adapters in this process, through the gateway's engine.

    The base is loaded once (in 4-bit NF4 or the device's precision, like the gateway);
    fine-tuned models are its LoRA adapters from the registry. A whole run is submitted at once,
    sorted by prompt length and then prompt, so the engine fills its batches with prompts of
    similar length and each prompt's models sit side by side (in a batch of several models they
    share the layers below the adapters); each answer is generated greedily, as the gateway
    would.
    """

    def __init__(
        self,
        base_model: str,
        *,
        models_dir: Path,
        quantization: Quantization = "none",
        batch_size: int = 16,
        continuous_batching: bool = True,
        merge_adapters: bool | None = None,
        mixed_batches: bool | None = None,
    ) -> None:
        from shared.models.generation.engine import Engine

        self.base_model = base_model
        self._models_dir = models_dir
        self._engine: Engine | None = Engine(
            base_model,
            models_dir=models_dir,
            quantization=quantization,
            max_batch_size=batch_size,
            adapter_cache_size=4,
            merge_adapters=merge_adapters,
            mixed_batches=mixed_batches,
            continuous_batching=continuous_batching,
        )
        self.tokenizer = self._engine.tokenizer

    def _live_engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the chat client is closed")
        return self._engine

    def close(self) -> None:
        """Stop the engine and drop the model."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def check_models(self, models: Sequence[str]) -> None:
        """NotFoundError for a name that is neither the base nor a registry entry."""
        for model in models:
            if model != self.base_model:
                try:
                    read_card(self._models_dir, model)
                except InvalidRequestError:
                    raise NotFoundError(
                        f"The model {model!r} does not exist.", param="model"
                    ) from None

    def render(self, messages: Sequence[Message]) -> str:
        """The exact prompt text the model is given."""
        return render_prompt(self.tokenizer, messages)

    def complete(
        self, requests: Sequence[ChatRequest], on_done: Callable[[], None] | None = None
    ) -> list[ChatResult]:
        """Generate for every request (all submitted at once: the engine refills its batch as
        answers finish); results in request order."""
        from shared.models.generation.engine import Submission
        from shared.models.generation.events import SamplingParams

        engine = self._live_engine()
        encoded = [engine.encode_messages(r.messages) for r in requests]
        order = sorted(
            range(len(requests)), key=lambda i: (len(encoded[i]), encoded[i], requests[i].model)
        )
        completions = engine.complete(
            on_done=on_done,
            submissions=[
                Submission(
                    requests[i].model,
                    encoded[i],
                    SamplingParams(requests[i].max_tokens, temperature=0.0, seed=0),
                    stream=False,
                )
                for i in order
            ],
        )
        results: list[ChatResult | None] = [None] * len(requests)
        for i, done in zip(order, completions, strict=True):
            results[i] = ChatResult(done.text, done.finish_reason, done.error)
        return [r for r in results if r is not None]
