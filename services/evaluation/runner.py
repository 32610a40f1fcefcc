"""The evaluation run: ask every question of both models, with and without RAG, score, report.

What each model is asked, and how its RAG prompt is built, is in `matrix.py`; this module
checks the inputs, generates through a `ChatClient`, scores every reply and builds the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from services.evaluation.aggregation import SliceUnit, gains, run_metrics, summarise
from services.evaluation.cases import QUESTION_TYPES
from services.evaluation.catalog import headline_metrics, retrieval_names, run_metric_names
from services.evaluation.chat_clients import ChatClient, ChatRequest, ChatResult, warn_of_failures
from services.evaluation.judging import LlmJudge, judge_task
from services.evaluation.matrix import Item, Searcher, build_items
from services.evaluation.prompt_check import PromptCheck, check_prompts
from services.evaluation.records import (
    MODES,
    ROLES,
    GenerationRecord,
    Mode,
    RetrievedSource,
    Role,
    run_name,
)
from services.evaluation.report import MetricResult, Report, RunReport
from services.evaluation.retrieval_metrics import ndcg_at_k, recall_at_k, reciprocal_rank
from services.evaluation.scoring import score_reply
from shared.contracts import injections
from shared.contracts.errors import InvalidRequestError, NotFoundError
from shared.contracts.prompts import Message
from shared.contracts.schemas import QACase, SearchMode
from shared.infrastructure.retrieval_client import RetrievalClient

Render = Callable[[Sequence[Message]], str]


@dataclass(frozen=True)
class EvalOptions:
    """What to run; the defaults are the full evaluation."""

    modes: tuple[Mode, ...] = MODES  # no_rag, rag
    top_k: int = 4  # sources per RAG prompt (the dataset builder's and the gateway's default)
    search_mode: SearchMode = "hybrid"
    retrieval_ks: tuple[int, ...] = (1, 3, 5, 10)
    max_tokens: int = 64
    step_by_step: bool = True  # ask multi_hop and arithmetic questions step by step too (RAG)
    step_by_step_max_tokens: int = 192
    variants: bool = True
    variant_kinds: tuple[str, ...] | None = None  # None: every kind
    no_rag_system_prompt: str | None = None
    bootstrap_samples: int = 1000
    seed: int = 0
    injection: bool = True  # the prompt-injection suite (needs the knowledge base)


@dataclass(frozen=True)
class ModelPair:
    """The model under test and the base it is compared with (names the chat client serves)."""

    fine_tuned: str
    base: str

    def name(self, role: Role) -> str:
        """The model of a role."""
        return self.fine_tuned if role == "fine_tuned" else self.base


@dataclass
class Evaluation:
    """A finished evaluation: the report and every scored generation."""

    report: Report
    records: list[GenerationRecord] = field(default_factory=list)


def _check_kb(retrieval: RetrievalClient, kb: str) -> None:
    names = [str(c.get("name")) for c in retrieval.list_collections()]
    if kb not in names:
        raise NotFoundError(
            f"The knowledge base {kb!r} does not exist (known: {names}); ingest it first: "
            f"finerag ingest DOCS --kb {kb}",
            param="kb",
        )


def _generate(
    chat: ChatClient,
    items: Sequence[Item],
    models: ModelPair,
    options: EvalOptions,
    on_progress: Callable[[int], None] | None,
    on_total: Callable[[int], None] | None,
) -> list[ChatResult]:
    """Every item's reply, all asked at once (a batching server keeps its batch full);
    `on_total` is told the count first, `on_progress` each answer."""
    if on_total is not None:
        on_total(len(items))
    requests = [
        ChatRequest(
            models.name(item.role),
            item.messages,
            options.step_by_step_max_tokens if item.step_by_step else options.max_tokens,
        )
        for item in items
    ]
    answers = chat.complete(
        requests, on_done=None if on_progress is None else partial(on_progress, 1)
    )
    if len(answers) != len(requests):
        raise RuntimeError(f"the chat client answered {len(answers)} of {len(requests)}")
    warn_of_failures(answers)
    return answers


def _record(
    item: Item, result: ChatResult, models: ModelPair, render: Render | None
) -> GenerationRecord:
    case = item.question.case
    user_text = [item.question.text, *(m["content"] for m in item.question.history)]
    scores = score_reply(
        case, result.text, finish_reason=result.finish_reason, hits=item.hits, user_text=user_text
    )
    if item.injection is not None:
        scores.followed_injection = injections.followed(result.text, item.injection[1])
    return GenerationRecord(
        run=run_name(item.role, item.mode),
        role=item.role,
        model=models.name(item.role),
        mode=item.mode,
        case_id=case.id,
        type=case.type,
        variant=item.question.variant,
        variant_index=item.question.variant_index,
        step_by_step=item.step_by_step,
        question=item.question.text,
        reference=case.answer,
        gold_sources=list(case.source_ids),
        messages=[dict(m) for m in item.messages],
        prompt=render(item.messages) if render else None,
        retrieved=[
            RetrievedSource(
                index=i,
                doc_id=h.doc_id,
                chunk_id=h.chunk_id,
                section=h.section or h.title,
                score=h.score,
            )
            for i, h in enumerate(item.hits or [], start=1)
        ],
        answer=result.text,
        finish_reason=result.finish_reason,
        error=result.error,
        scores=scores,
        injection=item.injection[0] if item.injection else None,
    )


def _judge(judge: LlmJudge, items: Sequence[Item], records: Sequence[GenerationRecord]) -> None:
    """Attach the judge's outcome to every RAG answer (as written) that makes a claim."""
    pending = []
    for item, record in zip(items, records, strict=True):
        if item.mode != "rag" or record.variant is not None or record.step_by_step:
            continue
        if record.injection is not None:
            continue
        task = judge_task(record.answer, [h.text for h in item.hits or []])
        if task is not None and not record.scores.abstained:
            pending.append((record, task))
    outcomes = judge.judge([task for _, task in pending]) if pending else []
    for (record, _), outcome in zip(pending, outcomes, strict=True):
        record.scores.judge = outcome


def _retrieval_metrics(
    cases: Sequence[QACase], searcher: Searcher, options: EvalOptions, types: Sequence[str]
) -> dict[str, MetricResult]:
    depth = max(options.retrieval_ks)
    units: dict[str, list[SliceUnit]] = {name: [] for name in retrieval_names(options.retrieval_ks)}
    for case in cases:
        if not case.source_ids:
            continue
        ranking = [h.doc_id for h in searcher.search(case.question, depth, options.search_mode)]
        for k in options.retrieval_ks:
            units[f"retrieval.recall@{k}"].append(
                (case.id, case.type, None, recall_at_k(ranking, case.source_ids, k), 1.0)
            )
            units[f"retrieval.ndcg@{k}"].append(
                (case.id, case.type, None, ndcg_at_k(ranking, case.source_ids, k), 1.0)
            )
        units["retrieval.mrr"].append(
            (case.id, case.type, None, reciprocal_rank(ranking, case.source_ids), 1.0)
        )
    return {
        name: summarise(
            found, key=name, types=types, seed=options.seed, samples=options.bootstrap_samples
        )
        for name, found in units.items()
    }


def _check_inputs(
    cases: Sequence[QACase],
    chat: ChatClient,
    models: ModelPair,
    options: EvalOptions,
    retrieval: RetrievalClient | None,
    kb: str | None,
) -> None:
    """Fail before the first generation: no cases, no knowledge base for RAG, a missing model."""
    if not cases:
        raise InvalidRequestError("no cases to evaluate (check --types, --limit, --split)")
    if "rag" in options.modes and (retrieval is None or kb is None):
        raise InvalidRequestError("the rag mode needs a knowledge base (--kb)", param="kb")
    chat.check_models(list(dict.fromkeys([models.fine_tuned, models.base])))
    if retrieval is not None and kb is not None:
        _check_kb(retrieval, kb)


def _scored_records(
    items: Sequence[Item],
    results: Sequence[ChatResult],
    models: ModelPair,
    render: Render | None,
    judge: LlmJudge | None,
) -> list[GenerationRecord]:
    """Every generation as a scored record, with the judge's reading where there is a judge."""
    records = [
        _record(item, result, models, render) for item, result in zip(items, results, strict=True)
    ]
    if judge is not None:
        _judge(judge, items, records)
    return records


def _matrix_report(
    records: Sequence[GenerationRecord],
    models: ModelPair,
    options: EvalOptions,
    types: Sequence[str],
    *,
    judged: bool,
) -> Report:
    """Each run's metrics, and per mode the fine-tuned model's gains over its base."""
    report = Report()
    by_run: dict[str, list[GenerationRecord]] = {}
    for record in records:
        by_run.setdefault(record.run, []).append(record)
    for role in ROLES:
        for mode in options.modes:
            name = run_name(role, mode)
            mine = by_run.get(name, [])
            report.runs[name] = RunReport(
                role=role,
                mode=mode,
                model=models.name(role),
                generations=len(mine),
                metrics=run_metrics(
                    mine,
                    run=name,
                    types=types,
                    seed=options.seed,
                    samples=options.bootstrap_samples,
                    judge=judged,
                ),
            )
    measured = set(run_metric_names(judged))
    headline = [d.name for d in headline_metrics() if d.name in measured]
    for mode in options.modes:
        report.gains[mode] = gains(
            by_run.get(run_name("base", mode), []),
            by_run.get(run_name("fine_tuned", mode), []),
            mode=mode,
            names=headline,
            seed=options.seed,
            samples=options.bootstrap_samples,
        )
    return report


def _served_prompts(
    records: Sequence[GenerationRecord],
) -> list[tuple[str, str, bool, list[Message]]]:
    """The fine-tuned RAG prompts of questions as written: the only ones the dataset also has."""
    return [
        (r.case_id, r.question, r.reference is not None, r.messages)
        for r in records
        if r.run == "fine_tuned/rag"
        and r.variant is None
        and not r.step_by_step
        and r.injection is None
    ]


def _prompt_check_metrics(
    check: PromptCheck, cases: Sequence[QACase], options: EvalOptions, types: Sequence[str]
) -> dict[str, MetricResult]:
    """How often the served prompt (and its template) was identical to the trained one."""
    metrics: dict[str, MetricResult] = {}
    type_of = {c.id: c.type for c in cases}
    for index, name in enumerate(
        ("behaviour.prompt_identical_rate", "behaviour.template_identical_rate")
    ):
        units: list[SliceUnit] = [
            (case_id, type_of[case_id], None, float(same[index]), 1.0)
            for case_id, same in check.outcomes.items()
        ]
        metrics[name] = summarise(
            units, key=name, types=types, seed=options.seed, samples=options.bootstrap_samples
        )
    return metrics


def _meta(
    cases: Sequence[QACase],
    records: Sequence[GenerationRecord],
    models: ModelPair,
    options: EvalOptions,
    types: Sequence[str],
    kb: str | None,
    judge: LlmJudge | None,
    started: float,
) -> dict[str, Any]:
    """What the report was measured on, and how long it took."""
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "models": {"fine_tuned": models.fine_tuned, "base": models.base},
        "kb": kb,
        "cases": len(cases),
        "cases_by_type": {t: sum(c.type == t for c in cases) for t in types},
        "generations": len(records),
        "judge": judge.model if judge else None,
        "options": asdict(options),
        "seconds": round(time.monotonic() - started, 1),
    }


def evaluate(
    cases: Sequence[QACase],
    *,
    chat: ChatClient,
    models: ModelPair,
    options: EvalOptions | None = None,
    retrieval: RetrievalClient | None = None,
    kb: str | None = None,
    render: Render | None = None,
    dataset_dir: Path | None = None,
    judge: LlmJudge | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    meta: dict[str, Any] | None = None,
) -> Evaluation:
    """Run the matrix {base, fine_tuned} × options.modes over `cases` and score everything.

    Args:
        cases: the questions (see `cases.read_cases`, `cases.select_cases`).
        chat: reaches both models (`HttpChatClient`, `LocalChatClient`, or a fake in tests).
        models: the fine-tuned model and its base, as `chat` names them.
        options: modes, retrieval depth, token budgets, variants, bootstrap.
        retrieval: the knowledge base's search (needed for the rag mode).
        kb: the knowledge base name (needed for the rag mode).
        render: the chat template (`LocalChatClient.render`): prompts go into the records and
            the prompt check compares rendered text; None compares messages.
        dataset_dir: a `finerag dataset build` folder: check the served prompts against it.
        judge: an LLM judge of faithfulness (optional).
        on_progress: called with the number of generations just finished.
        on_total: called once with the number of generations to come.
        meta: extra fields for `report.meta` (e.g. the question file, the endpoint).

    Raises:
        InvalidRequestError: no cases, or the rag mode without a knowledge base.
        NotFoundError: a model or the knowledge base does not exist.
    """
    options = options or EvalOptions()
    started = time.monotonic()
    _check_inputs(cases, chat, models, options, retrieval, kb)
    searcher = Searcher(retrieval, kb)
    items = build_items(cases, searcher, options)
    results = _generate(chat, items, models, options, on_progress, on_total)
    records = _scored_records(items, results, models, render, judge)
    types = [t for t in QUESTION_TYPES if any(c.type == t for c in cases)]
    report = _matrix_report(records, models, options, types, judged=judge is not None)
    if retrieval is not None and kb is not None:
        report.metrics.update(_retrieval_metrics(cases, searcher, options, types))
    if dataset_dir is not None and "rag" in options.modes:
        report.prompt_check = check_prompts(_served_prompts(records), dataset_dir, render=render)
        report.metrics.update(_prompt_check_metrics(report.prompt_check, cases, options, types))
    report.meta = _meta(cases, records, models, options, types, kb, judge, started) | (meta or {})
    return Evaluation(report, records)
