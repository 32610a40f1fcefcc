"""The one reader of JSON that comes from outside: request bodies and uploaded JSONL lines.

Python's `json` accepts what a service must not: nesting deep enough to exhaust the recursion
limit, `NaN` and `Infinity`, and `\\ud800`-style escapes that decode to lone UTF-16 surrogates
(a string no UTF-8 encoder, tokenizer or log line can write). `read_json` refuses all three
with a 400 that says which, before any of it reaches a model or a store. `split_jsonl_lines` is
the one way an uploaded JSONL file is cut into lines (uploads and training read the same lines).
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.contracts.errors import InvalidRequestError

MAX_JSON_DEPTH = 64

# Any \uD800-\uDFFF escape; only then can the decoded text hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise InvalidRequestError(f"{name} is not valid JSON; send a number or null")


def _is_lone_surrogate_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _problem(value: Any, *, strings: bool) -> str | None:
    """What is wrong with a parsed value (too deep, a lone surrogate), walking it once."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            items: list[Any] = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            items = node
        else:
            if strings and isinstance(node, str) and _is_lone_surrogate_text(node):
                return "holds a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair)"
            continue
        if depth > MAX_JSON_DEPTH:
            return f"nests deeper than {MAX_JSON_DEPTH} levels"
        stack.extend((item, depth + 1) for item in items if not isinstance(item, int | float))
    return None


def read_json(raw: bytes | str, *, what: str = "The request body") -> Any:
    """The JSON value in `raw`, or a 400 naming what is wrong with it.

    Args:
        raw: the bytes (UTF-8) or text to read.
        what: how the message names the input ("The request body", "Line 3").
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError(f"{what} is not valid UTF-8.") from None
    else:
        text = raw
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"{what}: {exc.message}") from None
    except RecursionError:
        raise InvalidRequestError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except ValueError as exc:
        raise InvalidRequestError(f"{what} is not valid JSON: {exc}") from None
    problem = _problem(value, strings=bool(_SURROGATE_ESCAPE.search(text)))
    if problem:
        raise InvalidRequestError(f"{what} {problem}.")
    return value


def split_jsonl_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of a JSONL text with their 1-based numbers.

    Lines end at `\\n` (and `\\r\\n`) only, as JSON Lines says: `str.splitlines` would also cut
    at `\\x1c`, `\\u2028` and others that are legal inside a JSON string.
    """
    return [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
