"""The agents' column of the evaluation: the reasoning questions (multi-hop and arithmetic, with
their variants) asked of `agent:<graph>@<model>` and of the same model in single-shot RAG, both
through the gateway, scored by the same accuracy rule (`accuracy.answer_correct`).

Each column reports accuracy with its bootstrap 95% interval, the agent's gain over single-shot
RAG with a paired interval (the same questions resampled for both), steps per answer and
seconds per answer (each request's wall time, with `concurrency` requests in flight).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
from pydantic import BaseModel, Field

from services.evaluation.abstention import is_abstention_like
from services.evaluation.accuracy import answer_correct
from services.evaluation.bootstrap import Stat, Unit, bootstrap, paired_difference
from services.evaluation.cases import REASONING_TYPES, Question, questions_of
from services.evaluation.chat_clients import openai_base_url
from shared.contracts.schemas import QACase

RAG_COLUMN = "rag"
TRACE_CHARS = 400  # of each step's output in agents.jsonl


class AgentAnswer(BaseModel):
    """One question asked of one column: a line of `agents.jsonl`."""

    column: str
    case_id: str
    type: str
    variant: str | None = None
    question: str
    reference: str | None
    answer: str
    status: str | None = None
    steps: int | None = None
    seconds: float
    correct: bool
    error: str | None = None
    trace: list[dict[str, Any]] | None = Field(
        None, description="An agent's steps: name, ok and output (clipped), to see which failed."
    )


class ColumnReport(BaseModel):
    """One column: a model in single-shot RAG, or an agent on it."""

    model: str
    answers: int
    accuracy: Stat
    by_type: dict[str, Stat] = Field(default_factory=dict)
    gain_over_rag: Stat | None = Field(None, description="Accuracy minus single-shot RAG's.")
    gain_by_type: dict[str, Stat] = Field(
        default_factory=dict,
        description="The gain on each question type (research is for multi-hop questions, "
        "calculate for arithmetic ones).",
    )
    abstained: float = Field(description="Share of answers that are the abstention sentence.")
    steps_per_answer: float | None = Field(None, description="Agents only.")
    seconds_per_answer: float


class AgentReport(BaseModel):
    """The agents' column of `report.json`."""

    model: str
    knowledge_base: str
    concurrency: int
    columns: dict[str, ColumnReport] = Field(default_factory=dict)


class GatewayAsker:
    """Asks the gateway one question: a model with its `rag` extension, or an agent."""

    def __init__(self, http: httpx.Client, kb: str, top_k: int, max_tokens: int) -> None:
        self._http, self._kb, self._top_k, self._max_tokens = http, kb, top_k, max_tokens

    def ask(
        self, model: str, question: Question
    ) -> tuple[str, str | None, list[dict[str, Any]] | None, str | None]:
        """(answer, agent status, the agent's steps, error); failures come back as errors."""
        body = {
            "model": model,
            "messages": [*question.history, {"role": "user", "content": question.text}],
            "max_tokens": self._max_tokens,
            "temperature": 0,
            "seed": 0,
            "rag": {"knowledge_base": self._kb, "top_k": self._top_k},
        }
        try:
            response = self._http.post("/chat/completions", json=body)
            data: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return "", None, None, f"{type(exc).__name__}: {exc}"
        if not response.is_success:
            return "", None, None, f"HTTP {response.status_code}: {str(data)[:200]}"
        text = str(data["choices"][0]["message"]["content"] or "")
        steps = data.get("steps")
        return text, data.get("agent_status"), steps if isinstance(steps, list) else None, None


def evaluate_agents(
    cases: Sequence[QACase],
    *,
    endpoint: str,
    api_key: str | None,
    model: str,
    kb: str,
    agents: Sequence[str],
    options: dict[str, Any],
) -> tuple[AgentReport, list[AgentAnswer]]:
    """Ask every reasoning question of single-shot RAG and of each agent on `model`.

    `options`: variants, variant_kinds, top_k, max_tokens, concurrency, seed, bootstrap.
    """
    questions = [
        q
        for case in cases
        if case.type in REASONING_TYPES
        for q in questions_of(
            case, variants=options["variants"], kinds=options.get("variant_kinds")
        )
    ]
    columns = {RAG_COLUMN: model, **{f"agent:{a}": f"agent:{a}@{model}" for a in agents}}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    concurrency = max(1, int(options["concurrency"]))
    with httpx.Client(base_url=openai_base_url(endpoint), headers=headers, timeout=900) as http:
        asker = GatewayAsker(http, kb, options["top_k"], options["max_tokens"])
        records: list[AgentAnswer] = []
        for column, served in columns.items():
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                records += pool.map(partial(_ask, asker, column, served), questions)
    report = AgentReport(model=model, knowledge_base=kb, concurrency=concurrency)
    for column in columns:
        report.columns[column] = _column_report(column, columns[column], records, options)
    return report, records


def _ask(asker: GatewayAsker, column: str, served: str, question: Question) -> AgentAnswer:
    started = time.monotonic()
    text, status, steps, error = asker.ask(served, question)
    reference = question.case.answer
    return AgentAnswer(
        column=column,
        case_id=question.case.id,
        type=question.case.type,
        variant=question.variant,
        question=question.text,
        reference=reference,
        answer=text,
        status=status,
        steps=len(steps) if steps is not None else None,
        seconds=round(time.monotonic() - started, 3),
        correct=bool(reference) and not error and answer_correct(text, reference or ""),
        error=error,
        trace=[_step_line(step) for step in steps] if steps is not None else None,
    )


def _step_line(step: Any) -> dict[str, Any]:
    """A step as `agents.jsonl` keeps it: its name, whether it worked, its output clipped."""
    if not isinstance(step, dict):
        return {"name": "?", "ok": None, "output": str(step)[:TRACE_CHARS]}
    output = step.get("output")
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    return {"name": step.get("name"), "ok": step.get("ok"), "output": text[:TRACE_CHARS]}


def _units(records: Sequence[AgentAnswer], type_: str | None = None) -> dict[str, Unit]:
    """Correct answers over questions, per case (its variants resampled with it)."""
    units: dict[str, Unit] = {}
    for record in records:
        if type_ is None or record.type == type_:
            num, den = units.get(record.case_id, (0.0, 0.0))
            units[record.case_id] = (num + float(record.correct), den + 1.0)
    return units


def _column_report(
    column: str, served: str, records: Sequence[AgentAnswer], options: dict[str, Any]
) -> ColumnReport:
    mine = [r for r in records if r.column == column]
    seed, n = int(options["seed"]), int(options["bootstrap"])
    units = _units(mine)
    by_type = {
        t: bootstrap(list(_units(mine, t).values()), key=f"{column}/{t}", seed=seed, samples=n)
        for t in REASONING_TYPES
    }
    gain, gain_by_type = None, {}
    if column != RAG_COLUMN:
        rag = [r for r in records if r.column == RAG_COLUMN]

        def paired(type_: str | None) -> Stat:
            key = f"{column}-rag" + (f"/{type_}" if type_ else "")
            return paired_difference(
                _units(rag, type_), _units(mine, type_), key=key, seed=seed, samples=n
            )

        gain = paired(None)
        gain_by_type = {t: paired(t) for t in REASONING_TYPES if _units(mine, t)}
    steps = [r.steps for r in mine if r.steps is not None]
    return ColumnReport(
        model=served,
        answers=len(mine),
        accuracy=bootstrap(list(units.values()), key=column, seed=seed, samples=n),
        by_type=by_type,
        gain_over_rag=gain,
        gain_by_type=gain_by_type,
        abstained=round(sum(is_abstention_like(r.answer) for r in mine) / max(1, len(mine)), 3),
        steps_per_answer=round(sum(steps) / len(steps), 2) if steps else None,
        seconds_per_answer=round(sum(r.seconds for r in mine) / max(1, len(mine)), 2),
    )


def agent_markdown(report: AgentReport) -> list[str]:
    """The agents' section of `report.md`."""

    def pct(stat: Stat | None, signed: bool = False) -> str:
        if stat is None or stat.value is None:
            return "–"
        sign = "+" if signed and stat.value > 0 else ""
        low, high = stat.ci_low, stat.ci_high
        interval = ""
        if low is not None and high is not None:
            interval = f" [{low * 100:.1f}, {high * 100:.1f}]"
        return f"{sign}{stat.value * 100:.1f}{interval}"

    lines = [
        "## Agents",
        "",
        f"Multi-hop and arithmetic questions on `{report.model}`, knowledge base "
        f"`{report.knowledge_base}`; accuracy in % with 95% intervals; seconds are each "
        f"request's wall time with {report.concurrency} in flight.",
        "",
        "| column | answers | accuracy | multi-hop | arithmetic | gain over RAG | gain multi-hop | "
        "gain arithmetic | abstained | steps/answer | s/answer |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, column in report.columns.items():
        steps = "–" if column.steps_per_answer is None else f"{column.steps_per_answer:.1f}"
        lines.append(
            f"| {name} | {column.answers} | {pct(column.accuracy)} | "
            f"{pct(column.by_type.get('multi_hop'))} | {pct(column.by_type.get('arithmetic'))} | "
            f"{pct(column.gain_over_rag, signed=True)} | "
            f"{pct(column.gain_by_type.get('multi_hop'), signed=True)} | "
            f"{pct(column.gain_by_type.get('arithmetic'), signed=True)} | "
            f"{column.abstained * 100:.0f}% | {steps} | {column.seconds_per_answer:.2f} |"
        )
    return [*lines, ""]
