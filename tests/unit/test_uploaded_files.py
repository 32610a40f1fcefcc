"""Uploaded files: purposes, the evaluation format's validation, and purpose checks on use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.contracts.errors import InvalidRequestError, NotFoundError
from shared.contracts.qa_data import QADataError, parse_qa_lines, read_qa_file
from shared.infrastructure.files import FileStore

CASE = {"id": "q1", "question": "What is the warranty?", "answer": "2 years", "type": "factual"}
CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}


def _jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def test_evaluation_lines_parse_into_cases():
    second = {**CASE, "id": "q2", "answer": None, "type": "unanswerable"}
    cases = parse_qa_lines(_jsonl(CASE, second) + b"\n", "qa.jsonl")
    assert [c.id for c in cases] == ["q1", "q2"]
    assert cases[1].answer is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([CASE, {**CASE, "type": "opinion"}], "line 2: not an evaluation-format case (type"),
        ([CASE, CASE], "qa.jsonl line 2: duplicate case id 'q1'"),
        ([{**CASE, "variants": [{"kind": "typo"}]}], "line 1: variants[0] needs a non-empty"),
        ([{**CASE, "variants": [{"question": "x", "turns": [{"role": "bot"}]}]}], "'turns' must"),
        ([], "qa.jsonl: no cases in the file"),
    ],
)
def test_bad_evaluation_lines_are_named(rows: list, message: str):
    with pytest.raises(QADataError) as caught:
        parse_qa_lines(_jsonl(*rows), "qa.jsonl")
    assert message in caught.value.message


def test_a_line_that_is_not_json_is_named():
    with pytest.raises(QADataError, match="line 2"):
        parse_qa_lines(_jsonl(CASE) + b"{oops\n", "qa.jsonl")


def test_missing_question_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(QADataError, match="no such file"):
        read_qa_file(tmp_path / "absent.jsonl")


def test_file_store_validates_each_purpose(tmp_path: Path):
    store = FileStore(tmp_path)
    evals = store.save(_jsonl(CASE), "qa.jsonl", "evals")
    train = store.save(_jsonl(CHAT), "train.jsonl", "fine-tune")
    assert evals["cases"] == 1
    assert train["conversations"] == 1
    with pytest.raises(QADataError):  # chat lines are not evaluation cases
        store.save(_jsonl(CHAT), "chat.jsonl", "evals")
    with pytest.raises(InvalidRequestError, match="purpose 'batch' is not supported"):
        store.save(_jsonl(CHAT), "chat.jsonl", "batch")
    assert len(store.list_files()) == 2  # nothing half-written by the refused uploads


def test_using_a_file_for_another_purpose_is_refused(tmp_path: Path):
    store = FileStore(tmp_path)
    evals = store.save(_jsonl(CASE), "qa.jsonl", "evals")
    assert store.path(evals["id"], "evals").read_bytes() == _jsonl(CASE)
    with pytest.raises(InvalidRequestError) as caught:
        store.path(evals["id"], "fine-tune", param="training_file")
    assert caught.value.param == "training_file"
    assert "purpose 'evals'" in caught.value.message
    with pytest.raises(NotFoundError) as missing:
        store.path("file-000", "evals", param="evaluation.file")
    assert missing.value.param == "evaluation.file"
