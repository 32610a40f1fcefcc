"""The evaluation format (`shared.contracts.schemas.QACase` per JSONL line): its one reader and
validator.

`finerag eval` reads question sets with it, and the gateway validates `POST /v1/files` uploads
with purpose `evals` through it, so a bad line is the same error (naming the line) everywhere.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from shared.contracts.errors import InvalidRequestError
from shared.contracts.schemas import QACase
from shared.contracts.wire_json import read_json, split_jsonl_lines


class QADataError(InvalidRequestError):
    """A line of an evaluation-format file is not a valid case."""

    default_code = "invalid_evaluation_data"


def _check_variant(where: str, variant: dict[str, object], param: str) -> None:
    if not isinstance(variant.get("question"), str) or not str(variant["question"]).strip():
        raise QADataError(f"{where} needs a non-empty 'question'", param=param)
    turns = variant.get("turns", [])
    if not isinstance(turns, list) or not all(
        isinstance(t, dict)
        and t.get("role") in ("user", "assistant")
        and isinstance(t.get("content"), str)
        for t in turns
    ):
        raise QADataError(
            f"{where}: 'turns' must be a list of {{'role': 'user'|'assistant', 'content': str}}",
            param=param,
        )


def parse_qa_lines(data: bytes | str, name: str, *, param: str = "qa") -> list[QACase]:
    """Every case of an evaluation-format JSONL text; the first bad line is an error naming it.

    Checks each line against `QACase`, that ids are unique and that every variant has a
    question (and well-formed `turns` for follow-ups). Blank lines are ignored.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    cases: list[QACase] = []
    seen: set[str] = set()
    for line_no, line in split_jsonl_lines(text):
        try:
            case = QACase.model_validate(read_json(line, what="the line"))
        except InvalidRequestError as exc:
            raise QADataError(
                f"{name} line {line_no}: not an evaluation-format case ({exc.message})",
                param=param,
            ) from None
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "line"
            raise QADataError(
                f"{name} line {line_no}: not an evaluation-format case ({where}: {problem['msg']})",
                param=param,
            ) from None
        if case.id in seen:
            raise QADataError(f"{name} line {line_no}: duplicate case id {case.id!r}", param=param)
        seen.add(case.id)
        for index, variant in enumerate(case.variants):
            _check_variant(f"{name} line {line_no}: variants[{index}]", variant, param)
        cases.append(case)
    if not cases:
        raise QADataError(f"{name}: no cases in the file", param=param)
    return cases


def read_qa_file(path: Path, *, param: str = "qa") -> list[QACase]:
    """`parse_qa_lines` over a file; a missing file is an error naming it."""
    if not path.is_file():
        raise QADataError(f"{path}: no such file (an evaluation-format question set)", param=param)
    return parse_qa_lines(path.read_bytes(), path.name, param=param)
