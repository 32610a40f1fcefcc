"""The one reader of outside JSON: what it refuses, and that ordinary JSON reads as `json` does."""

from __future__ import annotations

import json

import pytest

from shared.contracts.errors import InvalidRequestError
from shared.contracts.wire_json import MAX_JSON_DEPTH, read_json, split_jsonl_lines


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": [1, 2.5, true, null, "x\\u00e9\\ud83d\\ude00"]}',
        '{"nested": ' * 10 + "1" + "}" * 10,
        b'"text with [[[[ brackets {{{ inside"',
        b"[]",
    ],
)
def test_ordinary_json_reads_as_json_does(raw: bytes | str) -> None:
    assert read_json(raw) == json.loads(raw)


def test_nesting_at_the_limit_is_read() -> None:
    raw = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert read_json(raw) is not None


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nests deeper"),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "nests deeper"),
        ("[" * 200_000, "nests deeper"),
        ('{"content": "\\ud800"}', "lone UTF-16 surrogate"),
        ('{"\\udfff": 1}', "lone UTF-16 surrogate"),
        ('["ok", ["\\ude00 trailing half"]]', "lone UTF-16 surrogate"),
        ('{"temperature": NaN}', "NaN is not valid JSON"),
        ('{"top_p": -Infinity}', "-Infinity is not valid JSON"),
        (b'{"a": "\xff"}', "not valid UTF-8"),
        ("{'a': 1}", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_what_json_accepts_and_a_service_must_not_is_a_400(raw: bytes | str, says: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        read_json(raw, what="Line 3")
    assert caught.value.status == 400
    assert says in caught.value.message
    assert caught.value.message.startswith("Line 3")


def test_jsonl_lines_end_at_newlines_only() -> None:
    # U+2028 and U+0085 are legal inside a JSON string; str.splitlines cuts at both.
    text = '{"a": "x\u2028y\u0085z"}\r\n\n  \n{"b": 2}'
    lines = split_jsonl_lines(text)
    assert [number for number, _ in lines] == [1, 4]
    assert read_json(lines[0][1]) == {"a": "x\u2028y\u0085z"}


def test_a_raw_control_character_in_a_string_is_refused_not_a_line_break() -> None:
    [(number, line)] = split_jsonl_lines('{"a": "x\x1cy"}')
    with pytest.raises(InvalidRequestError, match="not valid JSON"):
        read_json(line, what=f"line {number}")
