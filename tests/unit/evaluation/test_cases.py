"""Reading and selecting question cases: clear errors, limits that keep every type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.evaluation.cases import (
    questions_of,
    read_cases,
    select_cases,
    validation_case_ids,
)
from shared.contracts.errors import InvalidRequestError
from tests.unit.evaluation.fakes import sample_cases


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_cases(tmp_path: Path):
    cases = sample_cases()
    path = _write(tmp_path / "qa.jsonl", [c.model_dump_json() for c in cases] + [""])
    assert read_cases(path) == cases


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ['{"id": "a", "question": "q", "answer": "x", "type": "factual"}', "{not json"],
            "qa.jsonl line 2: not an evaluation-format case",
        ),
        (
            ['{"id": "a", "question": "q", "answer": "x", "type": "trivia"}'],
            "qa.jsonl line 1: not an evaluation-format case (type:",
        ),
        (['{"id": "a", "question": "q", "type": "factual"}'], "(answer: Field required)"),
        (
            ['{"id": "a", "question": "q", "answer": null, "type": "unanswerable"}'] * 2,
            "qa.jsonl line 2: duplicate case id 'a'",
        ),
        (
            [
                '{"id": "a", "question": "q", "answer": null, "type": "unanswerable", '
                '"variants": [{"kind": "typo"}]}'
            ],
            "line 1: variants[0] needs a non-empty 'question'",
        ),
        (
            [
                '{"id": "a", "question": "q", "answer": null, "type": "unanswerable", '
                '"variants": [{"kind": "follow_up", "question": "q2", "turns": [{"role": "bot"}]}]}'
            ],
            "variants[0]: 'turns' must be a list",
        ),
        ([""], "qa.jsonl: no cases in the file"),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, lines: list[str], message: str):
    with pytest.raises(InvalidRequestError) as error:
        read_cases(_write(tmp_path / "qa.jsonl", lines))
    assert message in error.value.message


def test_a_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(InvalidRequestError, match="no such file"):
        read_cases(tmp_path / "nope.jsonl")


def test_limit_spreads_over_types_in_file_order():
    cases = sample_cases()  # f1 f2 u1 m1 a1
    assert [c.id for c in select_cases(cases, limit=4)] == ["f1", "u1", "m1", "a1"]
    assert [c.id for c in select_cases(cases, limit=5)] == ["f1", "f2", "u1", "m1", "a1"]
    assert [c.id for c in select_cases(cases, types=["factual"], limit=1)] == ["f1"]
    assert [c.id for c in select_cases(cases, ids={"f2", "a1"})] == ["f2", "a1"]
    with pytest.raises(InvalidRequestError, match="unknown question type"):
        select_cases(cases, types=["trivia"])


def test_questions_of_a_case_are_the_original_then_its_variants():
    f1 = sample_cases()[0]
    asked = questions_of(f1)
    assert [(q.variant, q.variant_index) for q in asked] == [
        (None, None), ("typo", 0), ("terse", 1), ("follow_up", 2),
    ]  # fmt: skip
    assert len(asked[3].history) == 2
    assert asked[3].text == "How much does it cost?"
    assert [q.variant for q in questions_of(f1, kinds=["terse"])] == [None, "terse"]
    assert len(questions_of(f1, variants=False)) == 1


def test_validation_split_from_the_dataset_card(tmp_path: Path):
    (tmp_path / "card.json").write_text(json.dumps({"validation_groups": ["f1", "m1"]}))
    assert validation_case_ids(tmp_path) == {"f1", "m1"}
    with pytest.raises(InvalidRequestError, match=r"no card\.json"):
        validation_case_ids(tmp_path / "nope")


def test_dataset_top_k_reads_the_card(tmp_path: Path):
    from services.evaluation.cases import dataset_top_k

    assert dataset_top_k(tmp_path) is None  # no card
    (tmp_path / "card.json").write_text('{"grounded": {"top_k": 3}}')
    assert dataset_top_k(tmp_path) == 3
    (tmp_path / "card.json").write_text('{"grounded": null}')
    assert dataset_top_k(tmp_path) is None
