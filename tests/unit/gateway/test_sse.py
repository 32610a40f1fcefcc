"""SSE framing of streamed completions: one JSON per `data:` line, usage chunk, [DONE], errors."""

from __future__ import annotations

import json

from services.gateway.api.sse import DONE, ChunkWriter, sse_event, stream_events
from services.gateway.core.rag import Citation
from shared.contracts.errors import ServiceUnavailableError
from shared.models.generation.events import Finished, TextDelta


def _parse(lines: list[str]) -> list[dict]:
    assert lines[-1] == DONE
    for line in lines:
        assert line.startswith("data: ")
        assert line.endswith("\n\n")
        assert "\n" not in line[:-2]
    return [json.loads(line[len("data: ") :]) for line in lines[:-1]]


def test_event_is_one_line_even_with_newlines_in_text():
    event = sse_event({"text": "a\nb\n\nc"})
    assert event.count("\n") == 2
    assert json.loads(event[6:]) == {"text": "a\nb\n\nc"}


def test_chat_stream_role_deltas_finish_and_usage():
    writer = ChunkWriter("chatcmpl-1", 5, "m", "chat", include_usage=True)
    events = [
        TextDelta("Hel"),
        TextDelta("lo"),
        Finished("stop", prompt_tokens=7, completion_tokens=2),
    ]
    chunks = _parse(list(stream_events(writer, events, [])))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["Hel", "lo"]
    assert chunks[3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[3]["choices"][0]["delta"] == {}
    assert all(c["usage"] is None for c in chunks[:4])
    assert chunks[4]["choices"] == []
    assert chunks[4]["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    assert {c["id"] for c in chunks} == {"chatcmpl-1"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


def test_text_stream_without_usage_and_with_citations():
    writer = ChunkWriter("cmpl-1", 5, "m", "text", include_usage=False)
    citation = Citation(1, "c1", "pricing.md", "pricing.md", "Plans", 0.9)
    events = [TextDelta("x"), Finished("length", 3, 1)]
    chunks = _parse(list(stream_events(writer, events, [citation])))
    assert chunks[0]["citations"][0]["doc_id"] == "pricing.md"
    assert [c["choices"][0]["text"] for c in chunks] == ["", "x", ""]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert all("usage" not in c for c in chunks)


def test_an_error_mid_stream_is_an_error_event_then_done():
    def failing():
        yield TextDelta("partial")
        raise ServiceUnavailableError("timed out", code="request_timeout")

    writer = ChunkWriter("chatcmpl-2", 5, "m", "chat", include_usage=False)
    chunks = _parse(list(stream_events(writer, failing(), [])))
    assert chunks[-1] == {
        "error": {
            "message": "timed out",
            "type": "server_error",
            "code": "request_timeout",
            "param": None,
        }
    }
