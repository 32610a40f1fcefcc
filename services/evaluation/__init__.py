"""Evaluation and release gate: measure a fine-tuned model against its base, decide promotion.

A library, not a service: it has no server and imports no service (an import-linter contract).
The trainer runs it after every job (`services/trainer/job_evaluation.py`), `finerag eval` runs
it on its own, on models in-process or behind any OpenAI-compatible endpoint. Both call, in
this order:

    cases = select_cases(read_cases(qa_path), limit=..., types=...)
    evaluation = evaluate(cases, chat=LocalChatClient(base, models_dir=...),
                          models=ModelPair(fine_tuned=name, base=base),
                          retrieval=retrieval, kb=kb, render=chat.render)
    evaluation.report.gate = apply_gate(evaluation.report, load_gate(gate_path))
    write_outputs(evaluation, out_dir)
    card.evaluation, card.gate = evaluation.report.card_summary(), report.gate.model_dump()

Core only: no web framework, models reached through a `ChatClient`. See docs/evaluation.md.
"""

from services.evaluation.cases import read_cases, select_cases, validation_case_ids
from services.evaluation.chat_clients import (
    ChatClient,
    ChatRequest,
    ChatResult,
    HttpChatClient,
    LocalChatClient,
)
from services.evaluation.gate import Gate, Verdict, apply_gate, load_gate, parse_gate
from services.evaluation.judging import LlmJudge
from services.evaluation.outputs import OutputFiles, write_outputs, write_report
from services.evaluation.report import Report
from services.evaluation.runner import EvalOptions, Evaluation, ModelPair, evaluate

__all__ = [
    "ChatClient",
    "ChatRequest",
    "ChatResult",
    "EvalOptions",
    "Evaluation",
    "Gate",
    "HttpChatClient",
    "LlmJudge",
    "LocalChatClient",
    "ModelPair",
    "OutputFiles",
    "Report",
    "Verdict",
    "apply_gate",
    "evaluate",
    "load_gate",
    "parse_gate",
    "read_cases",
    "select_cases",
    "validation_case_ids",
    "write_outputs",
    "write_report",
]
