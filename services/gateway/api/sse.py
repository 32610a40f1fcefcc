"""Server-sent events in OpenAI's streaming format: `data: {chunk}` lines, then `data: [DONE]`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from services.gateway.api.protocol import usage_body
from services.gateway.core.rag import Citation
from services.gateway.core.serving import Usage
from shared.errors import FineRAGError, error_body
from shared.generation.events import Finished, TextDelta

log = logging.getLogger("finerag.gateway.sse")

DONE = "data: [DONE]\n\n"


def sse_event(data: dict[str, Any]) -> str:
    """One event: a single `data:` line (JSON never holds a raw newline) and a blank line."""
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


class ChunkWriter:
    """Builds the chunks of one streamed completion (chat deltas or text pieces)."""

    def __init__(
        self,
        completion_id: str,
        created: int,
        model: str,
        kind: Literal["chat", "text"],
        include_usage: bool,
    ) -> None:
        self.kind = kind
        self.include_usage = include_usage
        self._base = {
            "id": completion_id,
            "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
            "created": created,
            "model": model,
        }

    def chunk(
        self,
        *,
        text: str | None = None,
        role: bool = False,
        finish_reason: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A chunk with one choice."""
        if self.kind == "chat":
            delta: dict[str, Any] = {}
            if role:
                delta["role"] = "assistant"
            if text is not None:
                delta["content"] = text
            choice: dict[str, Any] = {"index": 0, "delta": delta}
        else:
            choice = {"index": 0, "text": text or ""}
        choice["logprobs"] = None
        choice["finish_reason"] = finish_reason
        body = {**self._base, "choices": [choice], **(extra or {})}
        if self.include_usage:
            body["usage"] = None
        return body

    def usage_chunk(self, usage: Usage) -> dict[str, Any]:
        """The last chunk when `stream_options.include_usage`: no choices, the usage."""
        return {**self._base, "choices": [], "usage": usage_body(usage)}


def stream_events(
    writer: ChunkWriter,
    events: Iterable[TextDelta | Finished],
    citations: list[Citation],
) -> Iterator[str]:
    """The SSE text of a completion; an error mid-stream becomes an `error` event."""
    extra = {"citations": [c.to_dict() for c in citations]} if citations else None
    if writer.kind == "chat":
        yield sse_event(writer.chunk(text="", role=True, extra=extra))
    elif extra:
        yield sse_event(writer.chunk(text="", extra=extra))
    try:
        for event in events:
            if isinstance(event, TextDelta):
                yield sse_event(writer.chunk(text=event.text))
                continue
            yield sse_event(
                writer.chunk(text="" if writer.kind == "text" else None, finish_reason=event.reason)
            )
            if writer.include_usage:
                usage = Usage(event.prompt_tokens, event.completion_tokens)
                yield sse_event(writer.usage_chunk(usage))
    except FineRAGError as exc:
        yield sse_event(exc.to_body())
    except Exception:
        log.exception("stream failed")
        yield sse_event(
            error_body(
                "The server had an internal error.", type_="server_error", code="internal_error"
            )
        )
    yield DONE
