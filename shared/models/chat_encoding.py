"""Chat messages to token ids, with every message's text kept plain text.

A chat template renders messages into one string and a tokenizer then parses the special-token
strings in it (`<|eot_id|>`, `<|im_start|>`, ...) into control tokens. Parsed that way, a
retrieved document, a question or a feedback comment that contains such a string closes the
user's turn and opens a system turn of its own. `encode_chat` renders with the model's own
template, but every special-token string that came from a message is tokenized as the plain text
it is; only the template's own markup becomes control tokens. Text without such strings gets
exactly the ids the tokenizer gives the rendered prompt, so nothing changes for ordinary input.

Training (`services/trainer/labels.py`) and serving (`shared/models/generation/engine.py`) both
encode through here, so the model is trained on the tokens it is served.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from shared.contracts.prompts import CHAT_TEMPLATE_KWARGS

# Where a special-token string stood in a message, the rendered text holds a marker: a random
# key (so no message can forge one) and the string's number. Private-use code points around it
# survive any template's `trim`.
_MARKER = "\ue000{key}:{index}\ue001"


def special_token_strings(tokenizer: Any) -> list[str]:
    """The strings the tokenizer parses into special tokens, longest first."""
    strings = {
        token.content
        for token in getattr(tokenizer, "added_tokens_decoder", {}).values()
        if getattr(token, "special", False) and token.content
    }
    strings.update(s for s in getattr(tokenizer, "all_special_tokens", []) if s)
    return sorted(strings, key=len, reverse=True)


@functools.lru_cache(maxsize=16)
def _pattern(tokenizer: Any) -> re.Pattern[str] | None:
    """The special-token strings as one pattern, built once per tokenizer (every request asks)."""
    strings = special_token_strings(tokenizer)
    return re.compile("|".join(re.escape(s) for s in strings)) if strings else None


def _shield(
    messages: Sequence[Mapping[str, str]], pattern: re.Pattern[str] | None, key: str
) -> tuple[list[dict[str, str]], list[str]]:
    """Messages with each special-token string replaced by a numbered marker, and the strings."""
    found: list[str] = []

    def mark(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return _MARKER.format(key=key, index=len(found) - 1)

    shielded = []
    for message in messages:
        content = str(message["content"])
        if pattern is not None:
            content = pattern.sub(mark, content)
        shielded.append({**message, "content": content})
    return shielded, found


def _ids(tokenizer: Any, text: str, *, plain: bool) -> list[int]:
    if not text:
        return []
    encoded = tokenizer(text, add_special_tokens=False, split_special_tokens=plain)
    return [int(i) for i in encoded["input_ids"]]


def encode_chat(
    tokenizer: Any,
    messages: Sequence[Mapping[str, str]],
    *,
    add_generation_prompt: bool,
) -> list[int]:
    """Token ids of `messages` as the chat template renders them, message text as plain text.

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template.
        messages: `{"role", "content"}` dicts, in order.
        add_generation_prompt: end where the assistant's answer starts (for generating).
    """
    key = secrets.token_hex(8)
    shielded, found = _shield(messages, _pattern(tokenizer), key)
    rendered = str(
        tokenizer.apply_chat_template(
            shielded,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            **CHAT_TEMPLATE_KWARGS,
        )
    )
    if not found:
        return _ids(tokenizer, rendered, plain=False)
    markers = re.compile(re.escape(_MARKER.format(key=key, index="@")).replace("@", "(\\d+)"))
    ids: list[int] = []
    for position, piece in enumerate(markers.split(rendered)):
        if position % 2 == 0:
            ids.extend(_ids(tokenizer, piece, plain=False))
        else:
            ids.extend(_ids(tokenizer, found[int(piece)], plain=True))
    return ids


def count_special_tokens(tokenizer: Any, ids: Sequence[int]) -> int:
    """How many of `ids` are special (control) tokens."""
    special = {
        int(i)
        for i, token in getattr(tokenizer, "added_tokens_decoder", {}).items()
        if getattr(token, "special", False)
    }
    return sum(1 for i in ids if int(i) in special)


def count_chat_tokens(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> int:
    """Tokens of a whole conversation as it is trained (the answer included)."""
    return len(encode_chat(tokenizer, messages, add_generation_prompt=False))
