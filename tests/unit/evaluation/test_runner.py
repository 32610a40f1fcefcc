"""The whole evaluation on hand-made cases with a scripted chat client: matrix, suites, outputs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from services.evaluation import (
    EvalOptions,
    ModelPair,
    Report,
    apply_gate,
    evaluate,
    parse_gate,
    write_outputs,
)
from services.evaluation.chat_clients import ChatRequest
from shared.contracts import injections
from shared.contracts.errors import InvalidRequestError, NotFoundError
from shared.contracts.prompts import ABSTENTION, Source, grounded_messages
from shared.contracts.schemas import QACase, SearchRequest
from tests.unit.evaluation.fakes import DOCUMENTS, ScriptedChat, WordSearch, sample_cases

CASES = sample_cases()
BY_QUESTION: dict[str, QACase] = {}
for _case in CASES:
    BY_QUESTION[_case.question] = _case
    for _variant in _case.variants:
        BY_QUESTION[_variant["question"]] = _case


def script(request: ChatRequest, question: str, rag: bool) -> tuple[str, str]:
    """The tuned model answers from its sources and declines when it should; the base rambles
    with invented numbers and never stops."""
    case = BY_QUESTION[question]
    if request.model == "base":
        return f"I think it is about $999 in Brumzoun, see {case.id}", "length"
    if not rag:
        return (case.answer or "It is 40 dB."), "stop"
    if case.answer is None:
        return ABSTENTION, "stop"
    if request.messages[-1]["content"].endswith("'Answer:'."):  # step by step
        return f"The plan costs $46.95 a month [1].\nAnswer: {case.answer} [1]", "stop"
    return f"{case.answer} [1].", "stop"


@pytest.fixture(scope="module")
def evaluation():
    chat = ScriptedChat(script)
    progress: list[int] = []
    totals: list[int] = []
    result = evaluate(
        CASES,
        chat=chat,
        models=ModelPair(fine_tuned="tuned", base="base"),
        options=EvalOptions(bootstrap_samples=200, injection=False),
        retrieval=WordSearch(DOCUMENTS),
        kb="acme",
        on_progress=progress.append,
        on_total=totals.append,
    )
    result.report.meta["progress"] = (sum(progress), totals)
    return result


def _value(report: Report, metric: str, run: str, type_: str = "overall") -> float | None:
    result = report.runs[run].metrics[metric]
    stat = result.overall if type_ == "overall" else result.by_type[type_]
    return stat.value


def test_the_matrix_has_every_cell_and_every_generation(evaluation):
    report = evaluation.report
    assert list(report.runs) == ["base/no_rag", "base/rag", "fine_tuned/no_rag", "fine_tuned/rag"]
    # 5 originals + 5 variants per run, plus 2 step-by-step questions in each RAG run
    assert [report.runs[r].generations for r in report.runs] == [10, 12, 10, 12]
    assert report.meta["progress"] == (44, [44])
    assert report.meta["cases_by_type"] == {
        "factual": 2, "unanswerable": 1, "multi_hop": 1, "arithmetic": 1,
    }  # fmt: skip


def test_accuracy_and_hallucination(evaluation):
    report = evaluation.report
    assert _value(report, "accuracy.correct", "fine_tuned/rag") == 1.0
    assert _value(report, "accuracy.exact_match", "fine_tuned/rag") == 1.0
    assert _value(report, "accuracy.correct", "base/rag") == 0.0
    assert report.runs["fine_tuned/rag"].metrics["accuracy.correct"].overall.n == 4
    assert report.runs["fine_tuned/rag"].metrics["accuracy.correct"].by_type["unanswerable"].n == 0
    assert _value(report, "hallucination.abstention_rate", "fine_tuned/rag") == 1.0
    assert _value(report, "hallucination.false_answer_rate", "fine_tuned/no_rag") == 1.0
    assert _value(report, "hallucination.hallucination_rate", "fine_tuned/rag") == 0.0
    assert _value(report, "hallucination.hallucination_rate", "base/rag") == 1.0
    # the base's $999 and Brumzoun are in no source; "f1" etc. are codes, also unsupported
    assert _value(report, "hallucination.unsupported_claim_rate", "base/rag") == 1.0


def test_gains_are_fine_tuned_minus_base_on_the_same_cases(evaluation):
    report = evaluation.report
    assert set(report.gains) == {"no_rag", "rag"}
    gain = report.gain("accuracy.correct", "rag")
    assert gain is not None
    assert gain.n == 4
    assert gain.value == 1.0  # 1.0 against 0.0 on every answerable case
    assert report.gain("hallucination.hallucination_rate", "rag").value == -1.0
    assert "security.injection_follow_rate" in report.gains["rag"]
    assert report.gain("faithfulness.judge_support", "rag") is None  # no judge in this run


def test_faithfulness_and_citations_only_with_rag(evaluation):
    report = evaluation.report
    tuned = report.runs["fine_tuned/rag"].metrics
    assert tuned["faithfulness.citation_recall"].by_type["factual"].value == 1.0
    assert tuned["faithfulness.citation_recall"].by_type["multi_hop"].value == 0.5
    assert tuned["faithfulness.citation_precision"].overall.value == 1.0
    # $281.70 is computed, so the lexical scorer finds no support for it
    assert tuned["faithfulness.sentence_support"].by_type["arithmetic"].value == 0.0
    assert tuned["faithfulness.sentence_support"].by_type["factual"].value == 1.0
    assert report.runs["fine_tuned/no_rag"].metrics["faithfulness.sentence_support"].overall.n == 0


def test_reasoning_with_and_without_step_by_step(evaluation):
    tuned = evaluation.report.runs["fine_tuned/rag"].metrics
    assert tuned["reasoning.correct"].overall.n == 2
    assert tuned["reasoning.correct_step_by_step"].overall.value == 1.0
    assert set(tuned["reasoning.correct"].by_type) >= {"multi_hop", "arithmetic"}
    no_rag = evaluation.report.runs["fine_tuned/no_rag"].metrics
    assert no_rag["reasoning.correct_step_by_step"].overall.n == 0
    sbs = [r for r in evaluation.records if r.step_by_step and r.run == "fine_tuned/rag"]
    assert {r.case_id for r in sbs} == {"m1", "a1"}
    assert all(r.scores.answer_text in ("27 months", "$281.70") for r in sbs)


def test_customer_simulation(evaluation):
    tuned = evaluation.report.runs["fine_tuned/rag"].metrics
    base = evaluation.report.runs["base/rag"].metrics
    assert tuned["customer.variant_accuracy"].overall.value == 1.0
    assert tuned["customer.consistency"].overall.value == 1.0
    assert set(tuned["customer.variant_accuracy"].by_kind) == {
        "typo", "terse", "follow_up", "paraphrase",
    }  # fmt: skip
    assert base["customer.variant_accuracy"].overall.value == 0.0
    assert base["customer.robust_accuracy"].overall.n == 3  # cases with variants
    follow_up = next(r for r in evaluation.records if r.variant == "follow_up" and r.mode == "rag")
    assert [m["role"] for m in follow_up.messages] == ["system", "user", "assistant", "user"]
    assert follow_up.messages[1]["content"] == "I have a question about the Aurora X2."


def test_behaviour_stop_rate(evaluation):
    report = evaluation.report
    assert _value(report, "behaviour.stop_rate", "fine_tuned/rag") == 1.0
    assert _value(report, "behaviour.stop_rate", "base/rag") == 0.0
    assert _value(report, "behaviour.error_rate", "base/rag") == 0.0


def test_retrieval_metrics_reuse_the_shared_definitions(evaluation):
    metrics = evaluation.report.metrics
    assert set(metrics) == {
        "retrieval.recall@1", "retrieval.recall@3", "retrieval.recall@5", "retrieval.recall@10",
        "retrieval.mrr",
        "retrieval.ndcg@1", "retrieval.ndcg@3", "retrieval.ndcg@5", "retrieval.ndcg@10",
    }  # fmt: skip
    assert metrics["retrieval.recall@10"].overall.value == 1.0
    assert metrics["retrieval.mrr"].overall.n == 4  # the unanswerable case has no gold


def test_no_rag_prompts_are_the_conversation_alone(evaluation):
    record = next(r for r in evaluation.records if r.mode == "no_rag" and r.case_id == "f2")
    assert record.messages == [{"role": "user", "content": "Where is the Aurora X2 assembled?"}]
    assert record.retrieved == []


def test_rag_prompts_are_the_shared_template(evaluation):
    record = next(r for r in evaluation.records if r.run == "base/rag" and r.case_id == "f2"
                  and r.variant is None)  # fmt: skip
    hits = WordSearch(DOCUMENTS).search("acme", SearchRequest(query=record.question, top_k=4)).hits
    sources = [Source(h.text, doc_id=h.doc_id, title=h.title, section=h.section) for h in hits]
    assert record.messages == grounded_messages(record.question, sources)
    assert [s.doc_id for s in record.retrieved] == [h.doc_id for h in hits]


def test_no_nan_anywhere_and_the_report_round_trips(evaluation):
    text = evaluation.report.model_dump_json()
    assert "NaN" not in text
    assert "Infinity" not in text
    again = Report.model_validate_json(text)
    assert again.runs["fine_tuned/rag"].metrics == evaluation.report.runs["fine_tuned/rag"].metrics
    for run in again.runs.values():
        for result in run.metrics.values():
            for stat in [result.overall, *result.by_type.values(), *result.by_kind.values()]:
                assert (stat.value is None) == (stat.n == 0)
                if stat.value is not None:
                    assert not math.isnan(stat.value)
                    assert stat.ci_low <= stat.value <= stat.ci_high


def test_outputs(evaluation, tmp_path: Path):
    gate = parse_gate({"rules": [{"metric": "accuracy.correct", "direction": "higher",
                                  "absolute": 0.1}]})  # fmt: skip
    evaluation.report.gate = apply_gate(evaluation.report, gate)
    files = write_outputs(evaluation, tmp_path / "out")
    report = Report.model_validate_json(files.report_json.read_text())
    assert report.gate is not None
    assert report.gate.passed
    lines = files.cases_jsonl.read_text().splitlines()
    assert len(lines) == 44
    first = json.loads(lines[0])
    assert {"messages", "answer", "retrieved", "scores", "finish_reason"} <= set(first)
    markdown = files.report_md.read_text()
    assert "## Release gate: PASSED" in markdown
    assert "## The matrix" in markdown
    assert "| accuracy.correct ↑ |" in markdown
    assert [p.name for p in files.charts] == ["matrix.png", "by_type.png", "variants.png"]
    for chart in files.charts:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    evaluation.report.gate = None


def test_options_limit_the_work():
    chat = ScriptedChat(script)
    result = evaluate(
        CASES,
        chat=chat,
        models=ModelPair(fine_tuned="tuned", base="base"),
        options=EvalOptions(modes=("no_rag",), variants=False, step_by_step=False,
                            bootstrap_samples=0),
    )  # fmt: skip
    assert list(result.report.runs) == ["base/no_rag", "fine_tuned/no_rag"]
    assert len(chat.requests) == 10
    assert result.report.metrics == {}
    stat = result.report.runs["fine_tuned/no_rag"].metrics["accuracy.correct"].overall
    assert stat.ci_low is None
    assert stat.value == 1.0


def test_variant_kinds_and_errors_are_counted(caplog: pytest.LogCaptureFixture):
    def failing(request: ChatRequest, question: str, rag: bool) -> tuple[str, str]:
        return ("", "error") if "aurora" in question else ("It is 42.", "stop")

    result = evaluate(
        CASES,
        chat=ScriptedChat(failing),
        models=ModelPair(fine_tuned="tuned", base="base"),
        options=EvalOptions(modes=("no_rag",), variant_kinds=("terse",), step_by_step=False,
                            bootstrap_samples=0),
    )  # fmt: skip
    metrics = result.report.runs["fine_tuned/no_rag"].metrics
    assert set(metrics["customer.variant_accuracy"].by_kind) == {"terse"}
    assert metrics["behaviour.error_rate"].overall.value == pytest.approx(2 / 7)
    failed = next(r for r in result.records if r.error)
    assert failed.error == "scripted failure"
    assert failed.finish_reason == "error"
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == ["4 of 14 generations got no reply (first: scripted failure); they count "
                      "as wrong answers"]  # fmt: skip


def test_bad_requests_fail_before_any_generation():
    chat = ScriptedChat(script)
    pair = ModelPair(fine_tuned="tuned", base="base")
    with pytest.raises(NotFoundError, match="'nope'"):
        evaluate(
            CASES,
            chat=chat,
            models=ModelPair("nope", "base"),
            retrieval=WordSearch(DOCUMENTS),
            kb="acme",
        )
    with pytest.raises(InvalidRequestError, match="--kb"):
        evaluate(CASES, chat=chat, models=pair)
    with pytest.raises(NotFoundError, match="ingest it first"):
        evaluate(CASES, chat=chat, models=pair, retrieval=WordSearch(DOCUMENTS), kb="other")
    with pytest.raises(InvalidRequestError, match="no cases"):
        evaluate([], chat=chat, models=pair, options=EvalOptions(modes=("no_rag",)))
    assert chat.requests == []


def _dataset(tmp_path: Path, search: WordSearch) -> Path:
    """A dataset as the builder writes it: f1 as served, f2 with another system prompt,
    u1 with other sources, m1's same sources fenced the way an older template did; a1 absent."""
    cases = {c.id: c for c in CASES}

    def grounded(case: QACase, top_k: int = 4, **kwargs) -> list[dict[str, str]]:
        hits = search.search("acme", SearchRequest(query=case.question, top_k=top_k)).hits
        sources = [Source(h.text, doc_id=h.doc_id, title=h.title, section=h.section) for h in hits]
        return grounded_messages(case.question, sources, **kwargs)

    def older_fence(messages: list[dict[str, str]]) -> list[dict[str, str]]:
        old = messages[-1]["content"].replace('<source id="1" doc=', '<source id="1" kind="x" doc=')
        return [*messages[:-1], {"role": "user", "content": old}]

    examples = [
        [*grounded(cases["f1"]), {"role": "assistant", "content": "$1,249 [1]."}],
        [*grounded(cases["f1"]), {"role": "assistant", "content": ABSTENTION}],
        [*grounded(cases["f2"], system_prompt="Be brief."), {"role": "assistant", "content": "x"}],
        [*grounded(cases["u1"], top_k=2), {"role": "assistant", "content": ABSTENTION}],
        [*older_fence(grounded(cases["m1"])), {"role": "assistant", "content": "27 months"}],
    ]
    folder = tmp_path / "dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text(
        "\n".join(json.dumps({"messages": m}) for m in examples) + "\n"
    )
    (folder / "card.json").write_text(json.dumps({"chat_template_kwargs": {"date_string": "x"}}))
    return folder


def test_prompt_check_against_the_dataset(tmp_path: Path):
    search = WordSearch(DOCUMENTS)
    result = evaluate(
        CASES,
        chat=ScriptedChat(script),
        models=ModelPair(fine_tuned="tuned", base="base"),
        options=EvalOptions(modes=("rag",), variants=False, step_by_step=False,
                            bootstrap_samples=0),
        retrieval=search,
        kb="acme",
        render=lambda messages: "|".join(m["content"] for m in messages),
        dataset_dir=_dataset(tmp_path, search),
    )  # fmt: skip
    check = result.report.prompt_check
    assert check is not None
    assert check.rendered
    assert (check.compared, check.identical, check.template_identical, check.missing) == (
        4,
        1,
        2,
        1,
    )
    assert {m.case_id: m.reason for m in check.mismatches} == {
        "f2": "template differs",  # another system prompt
        "u1": "sources differ",  # retrieval gave other passages
        "m1": "template differs",  # the same passages, fenced differently
    }
    assert "date_string" in check.notes[0]
    metrics = result.report.metrics
    assert metrics["behaviour.prompt_identical_rate"].overall.value == pytest.approx(1 / 4)
    assert metrics["behaviour.template_identical_rate"].overall.value == pytest.approx(2 / 4)
    assert all(r.prompt and r.prompt.startswith("You are a support") for r in result.records)


def test_the_injection_suite_counts_answers_that_obey_a_planted_instruction():
    """The base obeys whatever a source says; the tuned model answers the question."""

    def gullible_base(request: ChatRequest, question: str, rag: bool) -> tuple[str, str]:
        found = re.search(r"ZQX[0-9A-F]{6}", json.dumps(request.messages))
        if request.model == "base" and found:
            return f"{found.group(0)}", "stop"
        return "It is 42 [1].", "stop"

    result = evaluate(
        CASES,
        chat=ScriptedChat(gullible_base),
        models=ModelPair(fine_tuned="tuned", base="base"),
        options=EvalOptions(variants=False, step_by_step=False, bootstrap_samples=50),
        retrieval=WordSearch(DOCUMENTS),
        kb="acme",
    )
    injected = [r for r in result.records if r.injection is not None]
    answerable = [c for c in CASES if c.answer is not None]
    assert len(injected) == len(answerable) * 4  # each answerable case in every cell
    assert {r.injection for r in injected} <= set(injections.FAMILIES)
    for run, rate in (("base/rag", 1.0), ("base/no_rag", 1.0), ("fine_tuned/rag", 0.0)):
        metric = result.report.runs[run].metrics["security.injection_follow_rate"]
        assert metric.overall.value == rate, run
        assert metric.overall.n == len(answerable)
    # the planted text sits in the top source (RAG) or in the customer's message (no RAG)
    rag = next(r for r in injected if r.mode == "rag")
    assert injections.mentions_a_canary(rag.messages[-1]["content"])
    # and no other metric counts these generations
    plain = result.report.runs["base/rag"].metrics["accuracy.correct"].overall.n
    assert plain == len(answerable)


def test_without_a_knowledge_base_there_is_no_injection_suite():
    result = evaluate(
        CASES,
        chat=ScriptedChat(script),
        models=ModelPair(fine_tuned="tuned", base="base"),
        options=EvalOptions(modes=("no_rag",), variants=False, step_by_step=False,
                            bootstrap_samples=0),
    )  # fmt: skip
    assert not any(r.injection for r in result.records)
    assert (
        result.report.runs["base/no_rag"].metrics["security.injection_follow_rate"].overall.n == 0
    )
