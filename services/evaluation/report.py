"""The evaluation report: every metric of every cell of the matrix, with intervals and counts.

`report.json` is this model dumped; `apply_gate()` reads it, and so can any later tool
(`Report.model_validate_json`). A metric with no applicable case has value null and n 0.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from services.evaluation.agent_column import AgentReport
from services.evaluation.bootstrap import Stat
from services.evaluation.catalog import headline_metrics
from services.evaluation.gate import Verdict
from services.evaluation.prompt_check import PromptCheck
from services.evaluation.records import Mode, Role, run_name

REPORT_VERSION = 1


class MetricResult(BaseModel):
    """A metric overall and per question type (and per variant kind for customer metrics)."""

    overall: Stat
    by_type: dict[str, Stat] = Field(default_factory=dict)
    by_kind: dict[str, Stat] = Field(default_factory=dict)


class RunReport(BaseModel):
    """One cell of the matrix: a model, with or without RAG."""

    role: Role
    model: str
    mode: Mode
    generations: int = 0
    metrics: dict[str, MetricResult] = Field(default_factory=dict)


class Report(BaseModel):
    """Everything `finerag eval` measured."""

    version: int = REPORT_VERSION
    meta: dict[str, Any] = Field(default_factory=dict)
    runs: dict[str, RunReport] = Field(default_factory=dict)
    metrics: dict[str, MetricResult] = Field(
        default_factory=dict, description="Global metrics: retrieval and the prompt check."
    )
    gains: dict[str, dict[str, Stat]] = Field(
        default_factory=dict,
        description="Per mode, per headline metric: fine-tuned minus base on the same cases, "
        "with a paired bootstrap interval (narrower than the two runs' intervals side by side).",
    )
    prompt_check: PromptCheck | None = None
    gate: Verdict | None = None
    agents: AgentReport | None = Field(
        None, description="The agents' column (`finerag eval --agents`): reasoning questions."
    )

    def stat(self, metric: str, role: Role, mode: Mode, type_: str = "overall") -> Stat | None:
        """One number of the report; None when the report does not hold that slice."""
        result = self.metrics.get(metric)
        if result is None:
            run = self.runs.get(run_name(role, mode))
            result = run.metrics.get(metric) if run else None
        if result is None:
            return None
        return result.overall if type_ == "overall" else result.by_type.get(type_)

    def gain(self, metric: str, mode: Mode) -> Stat | None:
        """Fine-tuned minus base for `metric` in `mode`; None when not measured."""
        return self.gains.get(mode, {}).get(metric)

    def card_summary(self) -> dict[str, Any]:
        """The headline metrics of every run and the gate verdict: for a model card."""
        runs = {
            name: {
                d.name: run.metrics[d.name].overall.value
                for d in headline_metrics()
                if d.name in run.metrics
            }
            for name, run in self.runs.items()
        }
        return {
            "created": self.meta.get("created"),
            "cases": self.meta.get("cases"),
            "runs": runs,
            "global": {name: m.overall.value for name, m in self.metrics.items()},
            "gains": {
                mode: {name: stat.value for name, stat in by_metric.items()}
                for mode, by_metric in self.gains.items()
            },
            "gate_passed": self.gate.passed if self.gate else None,
        }
