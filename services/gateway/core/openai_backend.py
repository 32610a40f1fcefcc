"""The `openai` backend: forward generation to an OpenAI-compatible upstream (vLLM, TGI, Ollama).

The gateway keeps doing what is its own (auth, limits, RAG, budgeting, feedback); the upstream
only generates. Fine-tuned names are mapped to the upstream's names with
FINERAG_UPSTREAM_MODELS (an unmapped name is sent as it is). The upstream is always asked to
stream, so a client that goes away closes the upstream request too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from services.gateway.core.catalog import check_served, list_served_models
from services.gateway.core.generation import GenerationRequest, ModelInfo
from shared.contracts.errors import (
    FineRAGError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
    UpstreamError,
)
from shared.contracts.prompts import Message
from shared.infrastructure.settings import Settings
from shared.models.chat_encoding import encode_chat
from shared.models.generation.events import Finished, GenerationEvent, TextDelta

log = logging.getLogger("finerag.gateway.upstream")

_FALLBACK_CONTEXT = 8192
_CHARS_PER_TOKEN = 4  # estimate when the base model's tokenizer is not available here


def upstream_error(response: httpx.Response) -> FineRAGError:
    """The domain error for an upstream error answer (its 5xx are our 503)."""
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or response.reason_phrase
    if response.status_code == 404:
        return NotFoundError(f"upstream: {message}", param="model")
    if response.status_code in (400, 422):
        return InvalidRequestError(f"upstream: {message}")
    if response.status_code >= 500 or response.status_code == 429:
        return ServiceUnavailableError(f"upstream answered {response.status_code}: {message}")
    return UpstreamError(f"upstream answered {response.status_code}: {message}")


class UpstreamStream:
    """Events parsed from the upstream's SSE answer; closing it closes the connection."""

    def __init__(self, response: httpx.Response, chat: bool, prompt_tokens: int) -> None:
        self._response = response
        self._chat = chat
        self._prompt_tokens = prompt_tokens
        self._lines = response.iter_lines()
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self._completion_tokens = 0
        self._done = False

    def __iter__(self) -> Iterator[GenerationEvent]:
        return self

    def __next__(self) -> GenerationEvent:
        while not self._done:
            try:
                line = next(self._lines)
            except StopIteration:
                return self._end()
            except httpx.HTTPError as exc:
                self.close()
                raise ServiceUnavailableError(f"upstream stream broke: {exc}") from exc
            if not line.startswith("data:"):
                continue
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                return self._end()
            chunk = json.loads(data)
            if "error" in chunk:
                self.close()
                raise ServiceUnavailableError(f"upstream: {chunk['error'].get('message')}")
            self._usage = chunk.get("usage") or self._usage
            for choice in chunk.get("choices") or []:
                self._finish = choice.get("finish_reason") or self._finish
                text = (
                    (choice.get("delta") or {}).get("content") if self._chat else choice.get("text")
                )
                if text:
                    self._completion_tokens += 1
                    return TextDelta(text)
        raise StopIteration

    def _end(self) -> GenerationEvent:
        self.close()
        usage = self._usage or {}
        return Finished(
            "length" if self._finish == "length" else "stop",
            prompt_tokens=int(usage.get("prompt_tokens", self._prompt_tokens)),
            completion_tokens=int(usage.get("completion_tokens", self._completion_tokens)),
        )

    def close(self) -> None:
        """Stop reading; the upstream sees the connection close."""
        if not self._done:
            self._done = True
            self._response.close()


class OpenAIBackend:
    """Generation by an OpenAI-compatible server; models listed from this gateway's registry."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        if not settings.upstream_url:
            raise ValueError("FINERAG_SERVE_BACKEND=openai needs FINERAG_UPSTREAM_URL (with /v1)")
        self._settings = settings
        headers = {}
        if settings.upstream_api_key is not None:
            headers["Authorization"] = f"Bearer {settings.upstream_api_key.get_secret_value()}"
        self._http = httpx.Client(
            base_url=settings.upstream_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.request_timeout_s, connect=10.0),
            transport=transport,
        )
        self._tokenizer: Any = None
        try:
            from shared.models.loading import load_tokenizer

            self._tokenizer = load_tokenizer(settings.base_model)
        except Exception as exc:  # no local copy of the tokenizer: estimate from characters
            log.warning(
                "no tokenizer for %s (%s): estimating token counts", settings.base_model, exc
            )

    def upstream_name(self, model: str) -> str:
        """The upstream's name for a served model."""
        return self._settings.upstream_models.get(model, model)

    def list_models(self) -> list[ModelInfo]:
        """The base model and the registry's fine-tuned models, under this gateway's names."""
        return list_served_models(self._settings)

    def check_model(self, model: str) -> None:
        """NotFoundError unless the gateway serves `model`."""
        if model in self._settings.upstream_models:
            return
        check_served(self._settings, model)

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of the rendered chat prompt (estimated without a local tokenizer)."""
        if self._tokenizer is None:
            return sum(len(m["content"]) // _CHARS_PER_TOKEN + 4 for m in messages)
        return len(encode_chat(self._tokenizer, messages, add_generation_prompt=True))

    def context_window(self) -> int:
        """FINERAG_MAX_CONTEXT_TOKENS, else the base model's, else 8192."""
        if self._settings.max_context_tokens:
            return self._settings.max_context_tokens
        limit = getattr(self._tokenizer, "model_max_length", None)
        return int(limit) if isinstance(limit, int) and limit < 10**7 else _FALLBACK_CONTEXT

    def generate(self, request: GenerationRequest) -> UpstreamStream:
        """Send the request upstream (streaming) and return its events."""
        params = request.params
        body: dict[str, Any] = {
            "model": self.upstream_name(request.model),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        chat = request.messages is not None
        if chat:
            body["messages"] = list(request.messages or [])
            prompt_tokens = self.count_prompt_tokens(request.messages or [])
        else:
            body["prompt"] = request.prompt or ""
            prompt_tokens = len(request.prompt or "") // _CHARS_PER_TOKEN
        timeout = self._settings.request_timeout_s
        if request.deadline is not None:
            timeout = max(0.1, request.deadline - time.monotonic())
        path = "/chat/completions" if chat else "/completions"
        try:
            response = self._http.send(
                self._http.build_request(
                    "POST", path, json=body, timeout=httpx.Timeout(timeout, connect=10.0)
                ),
                stream=True,
            )
        except httpx.TimeoutException as exc:
            raise ServiceUnavailableError(
                "The upstream did not answer within the request timeout.", code="request_timeout"
            ) from exc
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(f"The upstream is unreachable: {exc}") from exc
        if not response.is_success:
            response.read()
            response.close()
            raise upstream_error(response)
        return UpstreamStream(response, chat, prompt_tokens)

    def check_ready(self) -> None:
        """The upstream must list its models."""
        try:
            response = self._http.get("/models", timeout=5.0)
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(f"The upstream is unreachable: {exc}") from exc
        if not response.is_success:
            raise upstream_error(response)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
