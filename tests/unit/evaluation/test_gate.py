"""The release gate on hand-made reports: pass, fail, intervals, missing numbers, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.evaluation.bootstrap import Stat
from services.evaluation.gate import apply_gate, load_gate, parse_gate
from services.evaluation.report import MetricResult, Report, RunReport
from shared.contracts.errors import InvalidRequestError

REPO = Path(__file__).resolve().parents[3]


def _stat(value: float | None, half_width: float = 0.02, n: int = 100) -> MetricResult:
    if value is None:
        return MetricResult(overall=Stat(value=None, n=0))
    return MetricResult(
        overall=Stat(value=value, ci_low=value - half_width, ci_high=value + half_width, n=n),
        by_type={"factual": Stat(value=value, ci_low=value, ci_high=value, n=n)},
    )


def report(tuned: dict[str, float | None], base: dict[str, float | None], **width: float) -> Report:
    """A report whose RAG runs hold the given overall values."""
    runs = {}
    for role, values in (("base", base), ("fine_tuned", tuned)):
        runs[f"{role}/rag"] = RunReport(
            role=role,
            model=role,
            mode="rag",
            metrics={name: _stat(v, width.get(name, 0.02)) for name, v in values.items()},
        )
    return Report(runs=runs, metrics={"retrieval.recall@5": _stat(0.9)})


GATE = {
    "rules": [
        {"metric": "hallucination.hallucination_rate", "direction": "lower", "relative": 0.30},
        {"metric": "accuracy.correct", "direction": "higher", "absolute": 0.10},
        {"metric": "behaviour.stop_rate", "min": 0.95},
    ]
}
GOOD = {"hallucination.hallucination_rate": 0.20, "accuracy.correct": 0.70,
        "behaviour.stop_rate": 0.99}  # fmt: skip
BASE = {"hallucination.hallucination_rate": 0.40, "accuracy.correct": 0.50,
        "behaviour.stop_rate": 0.10}  # fmt: skip


def test_a_better_model_passes_and_every_rule_shows_its_numbers():
    verdict = apply_gate(report(GOOD, BASE), parse_gate(GATE))
    assert verdict.passed
    halluc, accuracy, stops = verdict.rules
    assert halluc.required == pytest.approx(0.28)
    assert halluc.fine_tuned == 0.20
    assert halluc.rule == (
        "hallucination.hallucination_rate (rag, overall) at least 30% lower than base"
    )
    assert accuracy.required == pytest.approx(0.60)
    assert accuracy.base == 0.50
    assert stops.required == 0.95
    assert stops.base == 0.10


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({"hallucination.hallucination_rate": 0.29}, 0),  # only 27.5% lower
        ({"accuracy.correct": 0.59}, 1),  # 9 points
        ({"behaviour.stop_rate": 0.5}, 2),  # a model that rarely stops
    ],
)
def test_a_model_short_of_any_rule_fails(change: dict[str, float], failing: int):
    verdict = apply_gate(report({**GOOD, **change}, BASE), parse_gate(GATE))
    assert not verdict.passed
    assert [r.passed for r in verdict.rules] == [i != failing for i in range(3)]


def test_margins_are_met_exactly_at_the_bound():
    verdict = apply_gate(report({**GOOD, "accuracy.correct": 0.60}, BASE), parse_gate(GATE))
    assert verdict.passed


def test_no_regression_checks_each_suites_headline_metrics():
    gate = parse_gate({"no_regression": {"margin": 0.02, "suites": ["accuracy", "customer"]}})
    tuned = {"accuracy.correct": 0.49, "customer.variant_accuracy": 0.5,
             "customer.consistency": 0.30}  # fmt: skip
    base = {"accuracy.correct": 0.50, "customer.variant_accuracy": 0.5,
            "customer.consistency": 0.33}  # fmt: skip
    verdict = apply_gate(report(tuned, base), gate)
    assert [(r.metric, r.passed) for r in verdict.rules] == [
        ("accuracy.correct", True),  # 1 point worse: within the margin
        ("customer.variant_accuracy", True),
        ("customer.consistency", False),  # 3 points worse
    ]
    assert not verdict.passed


def test_no_regression_skips_metrics_neither_model_was_measured_on():
    gate = parse_gate({"no_regression": {"suites": ["reasoning"]}})
    verdict = apply_gate(report({"reasoning.correct": 0.5}, {"reasoning.correct": 0.5}), gate)
    assert verdict.passed
    assert [(r.metric, r.skipped) for r in verdict.rules] == [
        ("reasoning.correct", False),
        ("reasoning.correct_step_by_step", True),
    ]


def test_missing_numbers_fail_a_rule():
    verdict = apply_gate(report({**GOOD, "accuracy.correct": None}, BASE), parse_gate(GATE))
    assert not verdict.passed
    assert verdict.rules[1].detail == "no applicable case for the fine-tuned model (n = 0)"
    base_missing = apply_gate(report(GOOD, {**BASE, "accuracy.correct": None}), parse_gate(GATE))
    assert base_missing.rules[1].detail == "no applicable case for the base model (n = 0)"
    no_run = apply_gate(report(GOOD, BASE), parse_gate({**GATE, "mode": "no_rag"}))
    assert not any(r.passed for r in no_run.rules)


def test_interval_rules_need_the_intervals_apart():
    rule = {"metric": "accuracy.correct", "direction": "higher", "absolute": 0.10,
            "interval": True}  # fmt: skip
    gate = parse_gate({"rules": [rule]})
    tight = report(
        {"accuracy.correct": 0.70}, {"accuracy.correct": 0.50}, **{"accuracy.correct": 0.02}
    )
    wide = report(
        {"accuracy.correct": 0.70}, {"accuracy.correct": 0.50}, **{"accuracy.correct": 0.06}
    )
    assert apply_gate(tight, gate).passed  # 0.68 >= 0.52 + 0.10
    assert not apply_gate(wide, gate).passed  # 0.64 < 0.56 + 0.10


def test_rules_by_type_and_on_global_metrics():
    gate = parse_gate({"rules": [
        {"metric": "accuracy.correct", "type": "factual", "direction": "higher", "absolute": 0.1},
        {"metric": "retrieval.recall@5", "min": 0.8},
    ]})  # fmt: skip
    verdict = apply_gate(report(GOOD, BASE), gate)
    assert verdict.passed
    assert verdict.rules[1].fine_tuned == verdict.rules[1].base == 0.9


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (
            {"rules": [{"metric": "accuracy.corect", "min": 0.5}]},
            "rules.0.metric: unknown metric 'accuracy.corect' (did you mean accuracy.correct",
        ),
        (
            {"rules": [{"metric": "accuracy.correct", "direction": "up", "absolute": 0.1}]},
            "rules.0.direction: Input should be 'higher' or 'lower'",
        ),
        (
            {"rules": [{"metric": "accuracy.correct", "direction": "lower", "absolute": 0.1}]},
            "accuracy.correct is better when higher; direction 'lower' would reward a worse model",
        ),
        (
            {"rules": [{"metric": "accuracy.correct", "absolute": 0.1}]},
            "absolute needs a direction: higher or lower",
        ),
        (
            {"rules": [{"metric": "accuracy.correct", "min": 0.1, "max": 0.9}]},
            "give exactly one of absolute, relative",
        ),
        (
            {"rules": [{"metric": "retrieval.mrr", "direction": "higher", "absolute": 0.1}]},
            "retrieval.mrr does not depend on the model",
        ),
        (
            {"rules": [{"metric": "accuracy.correct", "min": 0.5, "type": "trivia"}]},
            "rules.0.type: Value error, type must be one of",
        ),
        (
            {"rules": [{"metric": "accuracy.correct", "min": 0.5, "margin": 2}]},
            "rules.0.margin: Extra inputs are not permitted",
        ),
        ({"no_regression": {"suites": ["vibes"]}}, "unknown suite(s) ['vibes']"),
        ({"rules": []}, "a gate needs at least one rule"),
        (["accuracy.correct"], "a gate is a mapping"),
    ],
)
def test_gate_validation_errors_say_what_is_wrong(gate: object, message: str):
    with pytest.raises(InvalidRequestError) as error:
        parse_gate(gate, "my-gate.yaml")
    assert error.value.message.startswith("my-gate.yaml: ")
    assert message.replace("Value error, ", "") in error.value.message


def test_gate_files(tmp_path: Path):
    with pytest.raises(InvalidRequestError, match="no such gate file"):
        load_gate(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [metric: {")
    with pytest.raises(InvalidRequestError, match="not valid YAML"):
        load_gate(broken)


def test_the_shipped_example_gate_is_valid():
    gate = load_gate(REPO / "services" / "trainer" / "configs" / "gates" / "release.yaml")
    assert gate.rules
    assert gate.no_regression is not None


def test_paired_rules_read_the_gain_and_its_interval():
    rules = [
        {"metric": "accuracy.correct", "direction": "higher", "absolute": 0.10, "paired": True},
        {"metric": "hallucination.hallucination_rate", "direction": "lower", "absolute": 0.10,
         "paired": True},
    ]  # fmt: skip
    gate = parse_gate({"rules": rules})
    measured = report({"accuracy.correct": 0.49}, {"accuracy.correct": 0.21})
    measured.gains["rag"] = {
        "accuracy.correct": Stat(value=0.28, ci_low=0.15, ci_high=0.44, n=39),
        "hallucination.hallucination_rate": Stat(value=-0.39, ci_low=-0.53, ci_high=-0.05, n=49),
    }
    verdict = apply_gate(measured, gate)
    assert [r.passed for r in verdict.rules] == [True, False]  # 0.15 >= 0.10; -0.05 > -0.10
    assert verdict.rules[0].detail.startswith("gain +0.2800 [0.1500, 0.4400] (paired, n=39)")
    assert not apply_gate(
        report({"accuracy.correct": 0.49}, {"accuracy.correct": 0.21}), gate
    ).passed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"relative": 0.3}, "give it with absolute"),
        ({"absolute": 0.1, "interval": True}, "not both"),
        ({"absolute": 0.1, "type": "factual"}, "measured overall"),
    ],
)
def test_paired_rules_are_checked_when_read(extra, message):
    rule = {"metric": "accuracy.correct", "direction": "higher", "paired": True, **extra}
    with pytest.raises(InvalidRequestError, match=message):
        parse_gate({"rules": [rule]})


def test_optional_rules_are_skipped_only_when_nothing_was_measured():
    rule = {"metric": "security.injection_follow_rate", "max": 0.02, "optional": True}
    gate = parse_gate({"rules": [rule]})
    unmeasured = apply_gate(report(GOOD, BASE), gate)
    assert unmeasured.passed
    assert unmeasured.rules[0].skipped
    obeyed = apply_gate(
        report({"security.injection_follow_rate": 0.10}, {"security.injection_follow_rate": 0.2}),
        gate,
    )
    assert not obeyed.passed
    assert not obeyed.rules[0].skipped
    strict = parse_gate({"rules": [{**rule, "optional": False}]})
    assert not apply_gate(report(GOOD, BASE), strict).passed
