"""OpenAI chat JSONL (`{"messages": [...]}`): the one reader and validator of training data.

The gateway validates uploads with it (a bad line is a 400 naming the line), the dataset builder
validates its inputs and outputs, and the trainer reads datasets through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.contracts.errors import InvalidRequestError
from shared.contracts.prompts import CHAT_TEMPLATE_KWARGS
from shared.contracts.wire_json import read_json, split_jsonl_lines

ROLES = ("system", "user", "assistant")
Message = dict[str, str]


class ChatDataError(InvalidRequestError):
    """A line of a chat JSONL file is not a valid training conversation."""

    default_code = "invalid_training_data"


def validate_messages(messages: object, *, where: str = "") -> list[Message]:
    """Check roles, order and content of one conversation; returns it normalised.

    Rules: an optional system message first, then user/assistant turns that alternate starting
    with a user turn, ending with an assistant turn (the target); every content a non-blank string.
    """
    prefix = f"{where}: " if where else ""
    if not isinstance(messages, list) or not messages:
        raise ChatDataError(f"{prefix}'messages' must be a non-empty list", param="messages")
    clean: list[Message] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ChatDataError(f"{prefix}message {index} is not an object", param="messages")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ChatDataError(
                f"{prefix}message {index} has role {role!r}; expected one of {', '.join(ROLES)}",
                param="messages",
            )
        if not isinstance(content, str) or not content.strip():
            raise ChatDataError(
                f"{prefix}message {index} ({role}) has empty content", param="messages"
            )
        clean.append({"role": str(role), "content": content})
    turns = clean[1:] if clean[0]["role"] == "system" else clean
    if not turns:
        raise ChatDataError(
            f"{prefix}a system message alone is not a conversation", param="messages"
        )
    for index, message in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise ChatDataError(
                f"{prefix}turn {index + 1} is {message['role']!r} but {expected!r} was expected "
                "(user and assistant must alternate, starting with user)",
                param="messages",
            )
    if turns[-1]["role"] != "assistant":
        raise ChatDataError(
            f"{prefix}the conversation must end with an assistant message (the training target)",
            param="messages",
        )
    return clean


def parse_chat_line(line: str, line_no: int) -> list[Message]:
    """One JSONL line → its validated messages; errors name the line."""
    where = f"line {line_no}"
    try:
        record = read_json(line, what=where)
    except InvalidRequestError as exc:
        raise ChatDataError(exc.message, param="file") from None
    if not isinstance(record, Mapping) or "messages" not in record:
        raise ChatDataError(f"{where}: expected an object with a 'messages' list", param="file")
    return validate_messages(record["messages"], where=where)


def iter_chat_jsonl(path: Path) -> Iterator[list[Message]]:
    """Validated conversations of a chat JSONL file; blank lines are skipped."""
    for line_no, line in split_jsonl_lines(path.read_text(encoding="utf-8")):
        yield parse_chat_line(line, line_no)


def validate_chat_bytes(data: bytes) -> int:
    """Validate an uploaded chat JSONL file; returns its number of conversations."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChatDataError("the file is not UTF-8 text", param="file") from exc
    count = 0
    for line_no, line in split_jsonl_lines(text):
        parse_chat_line(line, line_no)
        count += 1
    if count == 0:
        raise ChatDataError("the file holds no conversations", param="file")
    return count


def to_prompt_completion(messages: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """TRL's conversational prompt-completion row: loss on the last assistant turn only.

    TRL masks the prompt for this format with any chat template, which is how assistant-only
    loss works with Llama 3.1's template (it has no `{% generation %}` markers). The template
    kwargs pin the date the Llama 3.1 template writes into the system header.
    """
    return {
        "prompt": [dict(m) for m in messages[:-1]],
        "completion": [dict(messages[-1])],
        "chat_template_kwargs": dict(CHAT_TEMPLATE_KWARGS),
    }


def write_chat_jsonl(path: Path, conversations: Sequence[Sequence[Mapping[str, str]]]) -> None:
    """Write conversations as chat JSONL (one `{"messages": [...]}` per line)."""
    with path.open("w", encoding="utf-8") as out:
        for messages in conversations:
            out.write(json.dumps({"messages": [dict(m) for m in messages]}, ensure_ascii=False))
            out.write("\n")
