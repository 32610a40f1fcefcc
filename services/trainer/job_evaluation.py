"""The end of every job: evaluate the new model against its base, apply the release gate, promote.

A model is promoted (served under its alias, listed by default) only when it passed the gate.
A job that gave no evaluation questions cannot show that, so its model is kept, unpromoted,
and the card says why. The report lands beside the adapter in `models/NAME/evaluation/`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from services.evaluation import (
    EvalOptions,
    Evaluation,
    Gate,
    LocalChatClient,
    ModelPair,
    Verdict,
    apply_gate,
    evaluate,
    load_gate,
    select_cases,
    write_outputs,
)
from services.trainer.config import CONFIGS_DIR
from shared.contracts.qa_data import read_qa_file
from shared.contracts.schemas import QACase
from shared.infrastructure.files import FileStore
from shared.infrastructure.registry import ModelCard, model_dir, read_card, write_card
from shared.infrastructure.retrieval_client import HttpRetrievalClient, RetrievalClient
from shared.infrastructure.settings import Settings

log = logging.getLogger("finerag.trainer.evaluation")


@dataclass(frozen=True)
class GateOutcome:
    """What the job record and its events say about the evaluation."""

    promoted: bool
    summary: str
    verdict: dict[str, Any] | None


class EvaluationStopped(Exception):
    """The evaluation stopped between generations: the job was cancelled or its lease lost."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def gate_path(name: str) -> Path:
    """A gate file by path, or by name under services/trainer/configs/gates."""
    path = Path(name)
    if not path.is_file() and (CONFIGS_DIR / "gates" / path.name).is_file():
        return CONFIGS_DIR / "gates" / path.name
    return path


def evaluate_in_process(
    settings: Settings,
    cases: Sequence[QACase],
    *,
    model_name: str,
    base_model: str,
    quantization: Literal["4bit", "none"],
    options: EvalOptions,
    retrieval: RetrievalClient | None,
    kb: str | None,
    dataset_dir: Path | None,
    gate: Gate,
    out_dir: Path,
    meta: dict[str, Any],
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> tuple[Evaluation, Verdict]:
    """Evaluate a registry model against its base in this process, apply `gate`, write outputs.

    `on_total` is told the number of generations first; `on_progress` is called after every
    batch of them, and an exception it raises stops the evaluation there, with nothing written.
    """
    chat = LocalChatClient(base_model, models_dir=settings.models_dir, quantization=quantization)
    try:
        evaluation = evaluate(
            cases,
            chat=chat,
            models=ModelPair(fine_tuned=model_name, base=base_model),
            options=options,
            retrieval=retrieval,
            kb=kb,
            render=chat.render,
            dataset_dir=dataset_dir,
            meta=meta,
            on_progress=on_progress,
            on_total=on_total,
        )
    finally:
        chat.close()
    verdict = apply_gate(evaluation.report, gate, source=str(gate_path(settings.eval_gate)))
    evaluation.report.gate = verdict
    write_outputs(evaluation, out_dir)
    return evaluation, verdict


def evaluate_job_model(
    settings: Settings,
    record: dict[str, Any],
    *,
    model_name: str,
    base_model: str,
    quantization: Literal["4bit", "none"],
    dataset_dir: Path | None,
    should_stop: Callable[[], str | None] | None = None,
) -> GateOutcome:
    """Evaluate `model_name` against `base_model` on the job's questions, gate, update the card.

    `should_stop` is asked between batches of generations; when it names a reason (a cancel, a
    lost lease) the evaluation stops, the model is kept unpromoted and `EvaluationStopped` is
    raised.
    """
    folder = model_dir(settings.models_dir, model_name)
    card = read_card(settings.models_dir, model_name)
    request = record.get("evaluation") or {}
    if not request.get("file"):
        _not_evaluated(folder, card, "no evaluation file")
        return GateOutcome(False, "Not evaluated (no evaluation file): kept, not promoted", None)

    check_stop = _stop_check(should_stop)
    gate = load_gate(gate_path(settings.eval_gate))
    cases = _job_cases(settings, request)
    kb = record.get("knowledge_base")
    retrieval = (
        HttpRetrievalClient.from_settings(settings) if kb and settings.retrieval_url else None
    )
    modes: tuple[Any, ...] = ("no_rag",) if retrieval is None else ("no_rag", "rag")
    if retrieval is None:  # no knowledge base to ground on: gate the answers without sources
        gate = gate.model_copy(update={"mode": "no_rag"})
    try:
        check_stop(0)
        evaluation, verdict = evaluate_in_process(
            settings,
            cases,
            model_name=model_name,
            base_model=base_model,
            quantization=quantization,
            options=EvalOptions(modes=modes, variants=False),
            retrieval=retrieval,
            kb=kb if retrieval is not None else None,
            dataset_dir=dataset_dir,
            gate=gate,
            out_dir=folder / "evaluation",
            meta={"job_id": record["id"], "evaluation_file": request["file"]},
            on_progress=check_stop,
        )
    except EvaluationStopped as stopped:
        _not_evaluated(folder, card, f"evaluation stopped: {stopped.reason}")
        raise
    _record_verdict(folder, card, evaluation, verdict)
    summary = _gate_summary(verdict, len(cases))
    log.info(summary)
    return GateOutcome(verdict.passed, summary, card.gate)


def _not_evaluated(folder: Path, card: ModelCard, reason: str) -> None:
    """Keep the model unpromoted, and say in its card why it has no verdict."""
    card.promoted = False
    card.gate = {"passed": False, "status": "not_evaluated", "reason": reason}
    write_card(folder, card)


def _stop_check(should_stop: Callable[[], str | None] | None) -> Callable[[int], None]:
    """A progress callback that raises EvaluationStopped once `should_stop` names a reason."""

    def check_stop(_done: int) -> None:
        reason = should_stop() if should_stop is not None else None
        if reason:
            raise EvaluationStopped(reason)

    return check_stop


def _job_cases(settings: Settings, request: dict[str, Any]) -> list[QACase]:
    """The job's evaluation questions, at most `max_cases` and never over the server's limit."""
    qa_path = FileStore(settings.data_dir / "files").path(request["file"], "evals")
    limit = min(settings.eval_max_cases, request.get("max_cases") or settings.eval_max_cases)
    return select_cases(read_qa_file(qa_path), limit=limit)


def _record_verdict(
    folder: Path, card: ModelCard, evaluation: Evaluation, verdict: Verdict
) -> None:
    """Write the evaluation and the gate's verdict into the card; promoted only if it passed."""
    card.evaluation = evaluation.report.card_summary()
    card.gate = verdict.model_dump(mode="json")
    card.promoted = verdict.passed
    write_card(folder, card)


def _gate_summary(verdict: Verdict, questions: int) -> str:
    """The job event's line: passed and promoted, or the rules that failed."""
    if verdict.passed:
        return f"Release gate passed on {questions} questions: promoted"
    failed = [rule.rule for rule in verdict.rules if not rule.passed and not rule.skipped]
    return f"Release gate failed on {questions} questions ({'; '.join(failed)}): kept, not promoted"
