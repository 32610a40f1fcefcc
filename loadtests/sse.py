"""Reading an OpenAI-style server-sent event stream: `data: {json}` lines, then `data: [DONE]`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


class StreamError(Exception):
    """A streamed answer that broke the protocol or carried an error event."""


def chunks(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON chunks of a stream, up to `[DONE]`; StreamError on an error event or no `[DONE]`."""
    for line in lines:
        if not line.startswith(b"data: "):
            continue  # blank separators, comments, other fields
        payload = line[len(b"data: ") :]
        if payload == b"[DONE]":
            return
        chunk = json.loads(payload)
        if "error" in chunk:
            raise StreamError(f"error event: {chunk['error'].get('message')}")
        yield chunk
    raise StreamError("the stream ended without [DONE]")


def carries_output(chunk: dict[str, Any]) -> bool:
    """Whether a chunk carries generated output: text, or the stop of an empty answer."""
    for choice in chunk.get("choices") or []:
        if (choice.get("delta") or {}).get("content") or choice.get("finish_reason"):
            return True
    return False
