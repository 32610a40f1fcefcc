"""Served prompt against the dataset's: byte identity, and drift told apart from retrieval."""

from __future__ import annotations

import json
from pathlib import Path

from services.evaluation.prompt_check import check_prompts
from shared.contracts.prompts import Source, grounded_messages

QUESTION = "How much is the Docun C4?"
A = Source("Price: $399", doc_id="products/docun-c4.html", title="Docun C4",
           section="Docun C4 > Specifications")  # fmt: skip
B = Source("Returns within 30 days.", doc_id="policies/returns.html", section="Returns")


def _dataset(tmp_path: Path, messages: list[dict[str, str]]) -> Path:
    example = [*messages, {"role": "assistant", "content": "$399 [1]."}]
    (tmp_path / "validation.jsonl").write_text(json.dumps({"messages": example}) + "\n")
    return tmp_path


def _check(tmp_path: Path, served: list[dict[str, str]], trained: list[dict[str, str]]):
    return check_prompts([("c1", QUESTION, True, served)], _dataset(tmp_path, trained), render=None)


def test_identical(tmp_path: Path):
    messages = grounded_messages(QUESTION, [A, B])
    check = _check(tmp_path, messages, messages)
    assert (check.compared, check.identical, check.template_identical) == (1, 1, 1)
    assert check.outcomes == {"c1": (True, True)}


def test_other_passages_are_a_retrieval_difference(tmp_path: Path):
    check = _check(tmp_path, grounded_messages(QUESTION, [A, B]), grounded_messages(QUESTION, [A]))
    assert check.outcomes == {"c1": (False, True)}
    assert check.mismatches[0].reason == "sources differ"


def test_the_same_passage_rendered_otherwise_is_drift(tmp_path: Path):
    # a section path holds ">", which must not end the parsed tag early
    served = grounded_messages(QUESTION, [A, B])
    trained = grounded_messages(QUESTION, [Source(A.text, doc_id=A.doc_id, section=A.section), B])
    check = _check(tmp_path, served, trained)
    assert check.outcomes == {"c1": (False, False)}
    assert check.mismatches[0].reason == "template differs"


def test_another_system_prompt_is_drift(tmp_path: Path):
    served = grounded_messages(QUESTION, [A])
    check = _check(tmp_path, served, grounded_messages(QUESTION, [A], system_prompt="Be brief."))
    assert check.mismatches[0].reason == "template differs"
    assert check.mismatches[0].offset == len('[{"role": "system", "content": "')


def test_cases_missing_from_the_dataset_are_counted(tmp_path: Path):
    messages = grounded_messages(QUESTION, [A])
    check = check_prompts(
        [("c1", QUESTION, True, messages), ("c2", "Another question?", True, messages),
         ("c3", QUESTION, False, messages)],  # unanswerable: the abstention example is looked for
        _dataset(tmp_path, messages),
        render=None,
    )  # fmt: skip
    assert (check.compared, check.missing) == (1, 2)
