"""The release gate: rules over a report that a fine-tuned model must pass to be promoted.

A gate file (YAML) names metrics, the direction that counts as better, and a margin against the
base model, or a floor/ceiling of the fine-tuned model's own value:

    mode: rag                      # the arm compared unless a rule says otherwise
    rules:
      - metric: hallucination.hallucination_rate
        direction: lower
        relative: 0.30             # at least 30% lower than the base (value <= base * 0.7)
      - metric: accuracy.correct
        direction: higher
        absolute: 0.10             # at least 10 points higher (value >= base + 0.10)
      - metric: behaviour.stop_rate
        min: 0.95                  # the fine-tuned model's own value
    no_regression:                 # no suite's headline metric worse by more than 2 points
      margin: 0.02
      suites: [accuracy, hallucination, faithfulness, reasoning, customer, behaviour]

`interval: true` on a rule compares the pessimistic ends of the 95% intervals instead of the
values (the fine-tuned model's lower bound against the base's upper bound for "higher"). A rule
whose numbers are missing (no applicable case) fails, except expanded no-regression rules where
neither model was measured, which are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.evaluation.catalog import SUITES, Direction, headline_metrics, metric_def
from shared.contracts.errors import InvalidRequestError

if TYPE_CHECKING:
    from services.evaluation.bootstrap import Stat
    from services.evaluation.report import Report

GateMode = Literal["no_rag", "rag"]
_TYPES = ("overall", "factual", "unanswerable", "multi_hop", "arithmetic")
_EPSILON = 1e-9


class GateRule(BaseModel):
    """One condition on one metric of the fine-tuned model."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="Shown in the verdict (default: generated).")
    metric: str = Field(description="A metric name, e.g. accuracy.correct.")
    mode: GateMode | None = Field(None, description="rag or no_rag (default: the gate's).")
    type: str = Field("overall", description="overall or a question type.")
    direction: Direction | None = Field(None, description="higher or lower is better.")
    absolute: float | None = Field(None, description="Margin in points (0.10 = 10 points).")
    relative: float | None = Field(None, description="Margin as a share of the base's value.")
    min: float | None = Field(None, description="Floor of the fine-tuned model's value.")
    max: float | None = Field(None, description="Ceiling of the fine-tuned model's value.")
    interval: bool = Field(False, description="Compare interval bounds, not values.")
    optional: bool = Field(
        False,
        description="Skip the rule (shown as skipped) when neither model was measured on the "
        "metric, e.g. the injection suite of a job without a knowledge base.",
    )
    paired: bool = Field(
        False,
        description="Require the paired interval of the gain over the base (the same cases "
        "resampled for both models) to clear the absolute margin.",
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        try:
            metric_def(value)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in _TYPES:
            raise ValueError(f"type must be one of {list(_TYPES)}, not {value!r}")
        return value

    @model_validator(mode="after")
    def _one_condition(self) -> GateRule:
        given = [k for k in ("absolute", "relative", "min", "max") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of absolute, relative (margins against the base) or min, "
                f"max (bounds of the fine-tuned value); got {given or 'none'}"
            )
        definition = metric_def(self.metric)
        if given[0] in ("absolute", "relative"):
            if self.direction is None:
                raise ValueError(f"{given[0]} needs a direction: higher or lower")
            if self.direction != definition.direction:
                raise ValueError(
                    f"{self.metric} is better when {definition.direction}; direction "
                    f"{self.direction!r} would reward a worse model"
                )
            if definition.scope == "global":
                raise ValueError(
                    f"{self.metric} does not depend on the model (the same for base and "
                    "fine-tuned); bound it with min or max"
                )
        if self.relative is not None and not -1 < self.relative <= 1:
            raise ValueError("relative must be in (-1, 1] (0.30 = 30%)")
        if self.paired:
            if self.absolute is None:
                raise ValueError("paired compares the gain over the base with a margin: give it "
                                 "with absolute")  # fmt: skip
            if self.interval:
                raise ValueError("give paired or interval, not both")
            if self.type != "overall":
                raise ValueError("paired gains are measured overall, not per question type")
        return self

    def describe(self, mode: GateMode) -> str:
        """The rule in words."""
        where = f"{self.metric} ({mode}, {self.type})"
        if self.min is not None:
            return f"{where} at least {self.min:g}"
        if self.max is not None:
            return f"{where} at most {self.max:g}"
        word = "higher" if self.direction == "higher" else "lower"
        if self.paired:
            assert self.absolute is not None
            return (
                f"{where} gain over base at least {self.absolute * 100:g} points {word}, "
                "paired 95% interval"
            )
        if self.absolute is not None:
            if self.absolute < 0:
                return (
                    f"{where} no more than {-self.absolute * 100:g} points {_worse(word)} than base"
                )
            return f"{where} at least {self.absolute * 100:g} points {word} than base"
        assert self.relative is not None
        if self.relative < 0:
            return f"{where} no more than {-self.relative:.0%} {_worse(word)} than base"
        return f"{where} at least {self.relative:.0%} {word} than base"


def _worse(better: str) -> str:
    return "lower" if better == "higher" else "higher"


class NoRegression(BaseModel):
    """Every headline metric of the named suites no worse than the base by more than margin."""

    model_config = ConfigDict(extra="forbid")

    margin: float = Field(0.02, ge=0, le=1, description="Points (0.02 = 2 points).")
    suites: list[str] = Field(default_factory=lambda: [s for s in SUITES if s != "retrieval"])
    mode: GateMode | None = None

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, value: list[str]) -> list[str]:
        checked = [s for s in SUITES if s != "retrieval"]
        unknown = [s for s in value if s not in checked]
        if unknown:
            raise ValueError(
                f"unknown suite(s) {unknown}; suites with a base to compare: {checked}"
            )
        return value


class Gate(BaseModel):
    """A release gate file."""

    model_config = ConfigDict(extra="forbid")

    mode: GateMode = "rag"
    rules: list[GateRule] = Field(default_factory=list)
    no_regression: NoRegression | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Gate:
        if not self.rules and self.no_regression is None:
            raise ValueError("a gate needs at least one rule or a no_regression section")
        return self


class RuleResult(BaseModel):
    """One rule's outcome."""

    rule: str
    metric: str
    mode: GateMode
    type: str
    fine_tuned: float | None
    base: float | None
    required: float | None = Field(description="The bound the fine-tuned value had to meet.")
    passed: bool
    skipped: bool = False
    detail: str = ""


class Verdict(BaseModel):
    """The gate's decision and every rule's numbers."""

    passed: bool
    rules: list[RuleResult]
    source: str | None = None


def parse_gate(data: object, source: str = "gate") -> Gate:
    """Validate a gate from parsed YAML; errors name the file and the field."""
    if not isinstance(data, dict):
        raise InvalidRequestError(f"{source}: a gate is a mapping with 'rules'", param="gate")
    try:
        return Gate.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "gate"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        raise InvalidRequestError(f"{source}: " + "; ".join(problems), param="gate") from None


def load_gate(path: Path) -> Gate:
    """Read and validate a gate YAML file."""
    if not path.is_file():
        raise InvalidRequestError(f"{path}: no such gate file", param="gate")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidRequestError(f"{path}: not valid YAML ({exc})", param="gate") from None
    return parse_gate(data, str(path))


def _expanded(gate: Gate) -> list[tuple[GateRule, GateMode, bool]]:
    """(rule, mode, is an expanded no-regression rule) for every check of the gate."""
    checks = [(rule, rule.mode or gate.mode, rule.optional) for rule in gate.rules]
    if gate.no_regression is not None:
        section = gate.no_regression
        for definition in headline_metrics(section.suites):
            rule = GateRule(
                name=f"no regression: {definition.name}",
                metric=definition.name,
                direction=definition.direction,
                absolute=-section.margin,
            )
            checks.append((rule, section.mode or gate.mode, True))
    return checks


def _bounds(stat: Stat, rule: GateRule, pessimistic: bool) -> float | None:
    """The fine-tuned side: the value, or the pessimistic interval bound."""
    if not rule.interval or stat.value is None:
        return stat.value
    better_high = (rule.direction or metric_def(rule.metric).direction) == "higher"
    if rule.min is not None:
        better_high = True
    if rule.max is not None:
        better_high = False
    if pessimistic:
        return stat.ci_low if better_high else stat.ci_high
    return stat.ci_high if better_high else stat.ci_low


def _check(report: Report, rule: GateRule, mode: GateMode, optional: bool) -> RuleResult:
    description = rule.name or rule.describe(mode)
    tuned = report.stat(rule.metric, "fine_tuned", mode, rule.type)
    base = report.stat(rule.metric, "base", mode, rule.type)
    result = RuleResult(
        rule=description,
        metric=rule.metric,
        mode=mode,
        type=rule.type,
        fine_tuned=tuned.value if tuned else None,
        base=base.value if base else None,
        required=None,
        passed=False,
    )
    against_base = rule.absolute is not None or rule.relative is not None
    if optional and (tuned is None or tuned.value is None) and (base is None or base.value is None):
        result.passed, result.skipped = True, True
        result.detail = "not measured for either model: skipped"
        return result
    if tuned is None or tuned.value is None:
        result.detail = "no applicable case for the fine-tuned model (n = 0)"
        return result
    if rule.paired:
        return _check_paired(report, rule, mode, result)
    ours = _bounds(tuned, rule, pessimistic=True)
    if ours is None:
        result.detail = "the fine-tuned model's interval is missing"
        return result
    if rule.min is not None or rule.max is not None:
        bound = rule.min if rule.min is not None else rule.max
        assert bound is not None
        result.required = bound
        result.passed = (
            ours >= bound - _EPSILON if rule.min is not None else ours <= bound + _EPSILON
        )
    elif against_base:
        if base is None or base.value is None:
            result.detail = "no applicable case for the base model (n = 0)"
            return result
        theirs = _bounds(base, rule, pessimistic=False)
        if theirs is None:
            result.detail = "the base model's interval is missing"
            return result
        higher = rule.direction == "higher"
        if rule.absolute is not None:
            required = theirs + rule.absolute if higher else theirs - rule.absolute
        else:
            assert rule.relative is not None
            required = theirs * (1 + rule.relative) if higher else theirs * (1 - rule.relative)
        result.required = required
        result.passed = ours >= required - _EPSILON if higher else ours <= required + _EPSILON
    compared = "interval bound " if rule.interval else ""
    result.detail = f"fine-tuned {compared}{ours:.4f} vs required {result.required:.4f}"
    return result


def _check_paired(report: Report, rule: GateRule, mode: GateMode, result: RuleResult) -> RuleResult:
    """The pessimistic end of the gain's paired interval against the margin."""
    assert rule.absolute is not None
    gain = report.gain(rule.metric, mode)
    if gain is None or gain.ci_low is None or gain.ci_high is None:
        result.detail = "no paired gain with an interval in the report (no shared case)"
        return result
    higher = rule.direction == "higher"
    ours = gain.ci_low if higher else -gain.ci_high
    result.required = rule.absolute
    result.passed = ours >= rule.absolute - _EPSILON
    result.detail = (
        f"gain {gain.value:+.4f} [{gain.ci_low:.4f}, {gain.ci_high:.4f}] (paired, n={gain.n}) "
        f"vs required {'+' if higher else '-'}{rule.absolute:.4f}"
    )
    return result


def apply_gate(report: Report, gate: Gate, *, source: str | None = None) -> Verdict:
    """Check every rule of `gate` against `report`; the verdict passes when all rules do."""
    results = [_check(report, rule, mode, optional) for rule, mode, optional in _expanded(gate)]
    return Verdict(passed=all(r.passed for r in results), rules=results, source=source)
