"""Server-sent events in OpenAI's streaming format: `data: {chunk}` lines, then `data: [DONE]`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import MISSING

from services.gateway.api.responses import (
    ChatCompletionChunk,
    ChunkChoice,
    ChunkDelta,
    Citation,
    CompletionUsage,
    TextChoice,
    TextCompletion,
    citations_of,
)
from services.gateway.core import rag
from services.gateway.core.serving import Usage
from shared.contracts.errors import FineRAGError, error_body
from shared.models.generation.events import Finished, FinishReason, TextDelta

log = logging.getLogger("finerag.gateway.sse")

DONE = "data: [DONE]\n\n"


def sse_event(data: dict[str, Any]) -> str:
    """One event: a single `data:` line (JSON never holds a raw newline) and a blank line."""
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


class ChunkWriter:
    """Builds the chunks of one streamed completion: chat deltas, or text pieces (OpenAI streams
    a text completion as `text_completion` objects)."""

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
        self._id, self._created, self._model = completion_id, created, model

    def chunk(
        self,
        *,
        text: str | None = None,
        role: bool = False,
        finish_reason: FinishReason | None = None,
        citations: list[Citation] | MISSING = MISSING,
    ) -> ChatCompletionChunk | TextCompletion:
        """A chunk with one choice (`usage` null while a usage chunk is to come)."""
        usage = None if self.include_usage else MISSING
        if self.kind == "text":
            return TextCompletion(
                id=self._id,
                created=self._created,
                model=self._model,
                choices=[TextChoice(text=text or "", finish_reason=finish_reason)],
                citations=citations,
                usage=usage,
            )
        delta = ChunkDelta(
            role="assistant" if role else MISSING, content=MISSING if text is None else text
        )
        return ChatCompletionChunk(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)],
            citations=citations,
            usage=usage,
        )

    def usage_chunk(self, usage: Usage) -> ChatCompletionChunk | TextCompletion:
        """The last chunk when `stream_options.include_usage`: no choices, the usage."""
        chunk_type = ChatCompletionChunk if self.kind == "chat" else TextCompletion
        return chunk_type(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=[],
            usage=CompletionUsage.of(usage),
        )


def stream_events(
    writer: ChunkWriter,
    events: Iterable[TextDelta | Finished],
    citations: list[rag.Citation],
) -> Iterator[str]:
    """The SSE text of a completion; an error mid-stream becomes an `error` event."""

    def send(chunk: ChatCompletionChunk | TextCompletion) -> str:
        return sse_event(chunk.model_dump(mode="json"))

    sources = citations_of(citations)
    if writer.kind == "chat":
        yield send(writer.chunk(text="", role=True, citations=sources))
    elif citations:
        yield send(writer.chunk(text="", citations=sources))
    try:
        for event in events:
            if isinstance(event, TextDelta):
                yield send(writer.chunk(text=event.text))
                continue
            yield send(
                writer.chunk(text="" if writer.kind == "text" else None, finish_reason=event.reason)
            )
            if writer.include_usage:
                usage = Usage(event.prompt_tokens, event.completion_tokens)
                yield send(writer.usage_chunk(usage))
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
