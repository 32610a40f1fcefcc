"""The dataset builder: grounded targets cite their sources, abstentions, splits, drops, card."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from services.trainer.datasets.build import DatasetOptions, GroundedBuilder, build_dataset
from shared.contracts.errors import InvalidRequestError
from shared.contracts.injections import mentions_a_canary
from shared.contracts.prompts import ABSTENTION, parse_citations
from shared.contracts.schemas import (
    AgentSubtasks,
    Chunk,
    QACase,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SubtaskQuantity,
)

DOCS = {
    f"products/p{i}.md": f"The Model P{i} costs ${100 + i}.00 and weighs {i + 2} kg."
    for i in range(30)
}


class KeywordRetrieval:
    """A stand-in for retrieval in unit tests: ranks documents by shared words."""

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        words = set(request.query.lower().replace("?", "").split())
        docs = [
            (doc_id, text)
            for doc_id, text in DOCS.items()
            if not request.filter or request.filter.get("doc_id") == doc_id
        ]
        ranked = sorted(docs, key=lambda d: (-len(words & set(d[1].lower().split())), d[0]))
        hits = [
            SearchHit(chunk_id=f"c-{doc_id}", doc_id=doc_id, source=doc_id, text=text, score=1.0)
            for doc_id, text in ranked[: request.top_k]
        ]
        return SearchResponse(hits=hits)

    def upsert_chunks(self, kb: str, chunks: Sequence[Chunk]) -> int:
        raise NotImplementedError

    def delete_document(self, kb: str, doc_id: str, *, keep_version: str | None = None) -> int:
        raise NotImplementedError

    def list_collections(self) -> list[dict[str, Any]]:
        return []


def _qa(tmp_path: Path) -> Path:
    lines = []
    for i in range(30):
        lines.append(
            {
                "id": f"fact-{i}",
                "question": f"What does the Model P{i} cost?",
                "answer": f"${100 + i}.00",
                "source_ids": [f"products/p{i}.md"],
                "type": "factual",
                "variants": [
                    {"kind": "paraphrase", "question": f"Price of Model P{i}?"},
                    {"kind": "follow_up", "turns": [], "question": "How much is it?"},
                ],
            }
        )
    lines.append(
        {
            "id": "unans-1",
            "question": "What is the battery life of the Model P3?",
            "answer": None,
            "source_ids": [],
            "type": "unanswerable",
            "variants": [],
        }
    )
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def _read(path: Path) -> list[list[dict[str, str]]]:
    return [json.loads(line)["messages"] for line in path.read_text().splitlines()]


def test_grounded_examples_cite_the_source_holding_the_answer(tmp_path: Path):
    out = tmp_path / "ds"
    build_dataset(
        out,
        qa_files=[_qa(tmp_path)],
        retrieval=KeywordRetrieval(),
        options=DatasetOptions(kb="acme", top_k=3, unanswerable_ratio=0.0, val_ratio=0.0),
    )
    examples = _read(out / "train.jsonl")
    grounded = [m for m in examples if m[-1]["content"] != ABSTENTION]
    assert len(grounded) == 30
    for messages in grounded:
        answer = messages[-1]["content"]
        cited = parse_citations(answer)
        assert cited
        user = messages[-2]["content"]
        value = answer.split(" [")[0]
        for index in cited:  # every cited source contains the answer
            block = user.split(f'<source id="{index}"')[1].split("</source>")[0]
            assert value in block


def test_unanswerable_and_gold_removed_examples_target_the_abstention(tmp_path: Path):
    out = tmp_path / "ds"
    card = build_dataset(
        out,
        qa_files=[_qa(tmp_path)],
        retrieval=KeywordRetrieval(),
        options=DatasetOptions(kb="acme", top_k=3, unanswerable_ratio=0.5, val_ratio=0.0),
    ).card
    assert card["counts"]["by_kind"]["train"]["abstain_removed"] == 15
    assert card["counts"]["by_kind"]["train"]["unanswerable"] == 1
    for messages in _read(out / "train.jsonl"):
        if messages[-1]["content"] == ABSTENTION and "battery" not in messages[-2]["content"]:
            question = messages[-2]["content"].rsplit("Question: ", 1)[1]
            model = question.split("Model ")[1].rstrip("?")
            assert f"Model {model} costs" not in messages[-2]["content"].split("Question:")[0]


def test_split_is_by_question_and_no_validation_form_is_trained(tmp_path: Path):
    out = tmp_path / "ds"
    card = build_dataset(
        out,
        qa_files=[_qa(tmp_path)],
        retrieval=KeywordRetrieval(),
        options=DatasetOptions(kb="acme", val_ratio=0.2, unanswerable_ratio=0.3),
    ).card
    train_questions = {
        m[-2]["content"].rsplit("Question: ", 1)[1] for m in _read(out / "train.jsonl")
    }
    val_questions = {
        m[-2]["content"].rsplit("Question: ", 1)[1] for m in _read(out / "validation.jsonl")
    }
    assert val_questions
    assert not train_questions & val_questions
    # The generic follow-up question is shared by all cases but is not a leak.
    assert card["dropped"]["validation_leak"] == 0
    assert card["counts"]["train"] + card["counts"]["validation"] == len(
        _read(out / "train.jsonl")
    ) + len(_read(out / "validation.jsonl"))


def test_too_long_examples_are_dropped_never_truncated_and_duplicates_counted(tmp_path: Path):
    chat = tmp_path / "chat.jsonl"
    short = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    }
    long = {
        "messages": [
            {"role": "user", "content": "x " * 500},
            {"role": "assistant", "content": "ok"},
        ]
    }
    near = {
        "messages": [{"role": "user", "content": "hi!"}, {"role": "assistant", "content": "hello"}]
    }
    chat.write_text("\n".join(json.dumps(r) for r in (short, short, long, near)) + "\n")
    out = tmp_path / "ds"
    card = build_dataset(
        out,
        chat_files=[chat],
        count_tokens=lambda messages: sum(len(m["content"].split()) for m in messages),
        options=DatasetOptions(max_seq_len=100, val_ratio=0.0),
    ).card
    assert card["dropped"] == {
        "too_long": 1,
        "exact_duplicate": 1,
        "near_duplicate": 1,
        "validation_leak": 0,
    }
    assert _read(out / "train.jsonl") == [short["messages"]]
    assert card["token_lengths"]["max"] <= 100


def test_version_is_the_content_hash(tmp_path: Path):
    qa = _qa(tmp_path)
    options = DatasetOptions(kb="acme")
    first = build_dataset(
        tmp_path / "a", qa_files=[qa], retrieval=KeywordRetrieval(), options=options
    )
    second = build_dataset(
        tmp_path / "b", qa_files=[qa], retrieval=KeywordRetrieval(), options=options
    )
    assert first.card["version"] == second.card["version"]
    other = build_dataset(
        tmp_path / "c",
        qa_files=[qa],
        retrieval=KeywordRetrieval(),
        options=DatasetOptions(kb="acme", seed=1),
    )
    assert other.card["version"] != first.card["version"]


def test_alpaca_input_and_bad_lines(tmp_path: Path):
    alpaca = tmp_path / "a.json"
    alpaca.write_text(
        json.dumps([{"instruction": "Say hi", "input": "to Bob", "output": "Hi Bob"}])
    )
    card = build_dataset(
        tmp_path / "ds", alpaca_files=[alpaca], options=DatasetOptions(val_ratio=0.0)
    ).card
    assert card["counts"]["train"] == 1
    assert _read(tmp_path / "ds" / "train.jsonl")[0][0]["content"] == "Say hi\n\nto Bob"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "q"}]}\n')
    with pytest.raises(InvalidRequestError, match="line 1"):
        build_dataset(tmp_path / "ds2", chat_files=[bad])
    with pytest.raises(InvalidRequestError, match="retrieval"):
        build_dataset(tmp_path / "ds3", qa_files=[_qa(tmp_path)], options=DatasetOptions(kb="acme"))


def test_injected_examples_plant_an_instruction_in_a_source_and_keep_the_real_answer(
    tmp_path: Path,
):
    out = tmp_path / "ds"
    card = build_dataset(
        out,
        qa_files=[_qa(tmp_path)],
        retrieval=KeywordRetrieval(),
        options=DatasetOptions(
            kb="acme", top_k=3, unanswerable_ratio=0.0, val_ratio=0.0, injection_ratio=0.5
        ),
    ).card
    assert card["counts"]["by_kind"]["train"]["grounded_injected"] == 15
    poisoned = [m for m in _read(out / "train.jsonl") if mentions_a_canary(m[-2]["content"])]
    assert len(poisoned) == 15
    for messages in poisoned:
        assert not mentions_a_canary(messages[-1]["content"])  # the target is never the attack
        assert messages[-1]["content"] != ABSTENTION
        assert parse_citations(messages[-1]["content"])


class _Passages:
    """A retrieval stand-in over fixed passages: a search returns them in the listed order,
    those of the filtered document only when a filter names one."""

    def __init__(self, hits: list[SearchHit]) -> None:
        self.hits = hits

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        doc_id = (request.filter or {}).get("doc_id")
        found = [h for h in self.hits if doc_id is None or h.doc_id == doc_id]
        return SearchResponse(hits=found[: request.top_k])


def _hit(doc_id: str, n: int, text: str) -> SearchHit:
    return SearchHit(chunk_id=f"{doc_id}#{n}", doc_id=doc_id, source=doc_id, text=text, score=1.0)


def test_the_gold_document_comes_in_through_the_passage_that_states_the_answer():
    """A chunk of the right document without the answer would teach the model to cite a
    source for a fact it does not state: the passage with the answer takes its place."""
    passages = [
        _hit("g2.txt", 0, "The G2 is a water filter. Model code: CZ-8996"),
        _hit("guide.html", 0, "Replacing a water filter cartridge"),
        _hit("faq.md", 0, "Error W-312 affects the G2"),
        _hit("g2.txt", 1, "Specifications. Filter capacity: 7,300 litres"),
    ]
    builder = GroundedBuilder(_Passages(passages), DatasetOptions(kb="acme", top_k=3))  # type: ignore[arg-type]
    case = QACase(id="f1", question="How much water does one G2 cartridge filter?",
                  answer="7,300 litres", source_ids=["g2.txt"], type="factual")  # fmt: skip

    hits, cited = builder.sources_for(case)

    assert [h.chunk_id for h in hits] == ["g2.txt#1", "guide.html#0", "faq.md#0"]
    assert cited == [1]


def test_a_missing_gold_document_takes_the_place_of_the_lowest_ranked_other_passage():
    passages = [
        _hit("a.md", 0, "about a"),
        _hit("gold.md", 1, "the price is $40"),
        _hit("b.md", 0, "about b"),
        _hit("other.md", 0, "about c"),
        _hit("gold2.md", 0, "warranty: 27 months"),
    ]
    builder = GroundedBuilder(_Passages(passages), DatasetOptions(kb="acme", top_k=3))  # type: ignore[arg-type]
    case = QACase(id="m1", question="What warranty does it have?", answer="27 months",
                  source_ids=["gold.md", "gold2.md"], type="multi_hop")  # fmt: skip

    hits, cited = builder.sources_for(case)

    assert [h.chunk_id for h in hits] == ["a.md#0", "gold.md#1", "gold2.md#0"]
    assert cited == [3]


def test_each_value_of_a_calculation_comes_in_through_a_passage_that_states_it():
    """The computed answer is in no passage; the extract step must cite each value where a
    source states it, so a passage with the price replaces the lowest-ranked unneeded one."""
    passages = [
        _hit("x6.md", 0, "The X6 is a dehumidifier. Weight: 11.4 kg"),
        _hit("shipping.md", 0, "Express shipping costs $26.50."),
        _hit("faq.md", 0, "Questions about dehumidifiers"),
        _hit("x6.md", 1, "Price: $319"),
    ]
    builder = GroundedBuilder(_Passages(passages), DatasetOptions(kb="acme", top_k=3))  # type: ignore[arg-type]
    case = QACase(
        id="a1", question="What does the X6 cost with express shipping?", answer="$345.50",
        source_ids=["x6.md", "shipping.md"], type="arithmetic",
        subtasks=AgentSubtasks(
            quantities=[SubtaskQuantity(name="price", text="$319", doc_id="x6.md"),
                        SubtaskQuantity(name="express_shipping", text="$26.50",
                                        doc_id="shipping.md")],
            calculation="price + express_shipping",
        ),
    )  # fmt: skip

    hits, _cited = builder.calculation_sources(case)

    assert [h.chunk_id for h in hits] == ["x6.md#0", "shipping.md#0", "x6.md#1"]
