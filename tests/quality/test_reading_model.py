"""The claim FineRAG exists for, measured end to end on a model that reads.

`finerag demo` runs as a user runs it (a subprocess, the default SmolLM2-135M-Instruct base,
started with the session and run beside the other tests: tests/quality/background_demo.py):
ingest the sample domain, build the grounded dataset, QLoRA, evaluate base and fine-tuned on
held-out questions and their paraphrases, apply the shipped release gate, then ask both models
about a hand-written knowledge base of another company that training never saw. The assertions
read the reports it wrote; nothing in them is fixed in advance. An adapter trained for a single
step must fail the same gate, or the gate would prove nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.evaluation.report import Report
from tests.quality.background_demo import BACKGROUND_DEMO, BackgroundDemo

pytestmark = pytest.mark.quality

ONE_STEP_CASES = 20  # as written, with RAG: enough to see an adapter that learned nothing


@pytest.fixture(scope="module")
def demo(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo the session started in the background (tests/conftest.py), awaited."""
    run = pytestconfig.stash.get(BACKGROUND_DEMO, None)
    if run is None:  # selected in a way collection did not see: run it now
        run = BackgroundDemo.start(tmp_path_factory.mktemp("demo"))
    completed = run.wait()
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    out = run.out
    summary = json.loads((out / "demo.json").read_text())
    return {
        "out": out,
        "stdout": completed.stdout,
        "summary": summary,
        "report": Report.model_validate_json(Path(summary["report"]).read_text()),
        "transfer": Report.model_validate_json(Path(summary["transfer_report"]).read_text()),
    }


def _stat(report: Report, metric: str, role: str, mode: str = "rag") -> Any:
    stat = report.stat(metric, role, mode)  # type: ignore[arg-type]
    assert stat is not None, f"{metric} {role}/{mode} missing"
    assert stat.value is not None, f"{metric} {role}/{mode} has no applicable case"
    return stat


def test_fine_tuned_hallucinates_less_than_base_outside_the_intervals(demo: dict[str, Any]) -> None:
    report = demo["report"]
    base = _stat(report, "hallucination.hallucination_rate", "base")
    tuned = _stat(report, "hallucination.hallucination_rate", "fine_tuned")
    assert tuned.ci_high < base.ci_low, (base, tuned)
    gain = report.gain("hallucination.hallucination_rate", "rag")
    assert gain is not None
    assert gain.ci_high is not None
    assert gain.ci_high < 0, gain


def test_fine_tuned_answers_more_correctly_than_base_on_the_same_questions(
    demo: dict[str, Any],
) -> None:
    """The paired interval of the gain (both models asked the same questions) is clear of 0,
    and the gain is at least the gate's 10 points. The two runs' own intervals, side by side,
    ignore the pairing. The demo holds out 82 answerable questions for this: with 39, a gain of
    0.15-0.23 left the paired interval touching 0 in some training seeds
    (benchmarks/recipe_seeds.py)."""
    report = demo["report"]
    base = _stat(report, "accuracy.correct", "base")
    tuned = _stat(report, "accuracy.correct", "fine_tuned")
    gain = report.gain("accuracy.correct", "rag")
    assert gain is not None
    assert gain.value is not None
    assert gain.ci_low is not None
    assert gain.n == tuned.n == base.n
    assert gain.value == pytest.approx(tuned.value - base.value)
    assert gain.ci_low > 0, gain
    assert gain.value >= 0.10, (base, tuned, gain)


def test_fine_tuned_abstains_and_ends_its_turn(demo: dict[str, Any]) -> None:
    report = demo["report"]
    assert _stat(report, "hallucination.abstention_rate", "fine_tuned").value > 0.5
    assert _stat(report, "behaviour.stop_rate", "fine_tuned").value >= 0.95


def test_the_shipped_release_gate_passes(demo: dict[str, Any]) -> None:
    gate = demo["report"].gate
    assert gate is not None
    assert gate.passed, gate
    assert demo["summary"]["gate_passed"] is True
    assert "release gate: PASSED" in demo["stdout"]


def test_the_gain_carries_to_a_knowledge_base_never_trained_on(demo: dict[str, Any]) -> None:
    """On a company training never saw (26 questions) the fine-tuned model hallucinates less,
    the paired interval clear of 0, and answers no worse: the accuracy gain's paired interval
    is not below 0. Its point estimate is not asserted: across runs the fine-tuned model scored
    0.29 to 0.52 against the base's 0.33, and with 26 questions the interval spans about 0.5."""
    transfer = demo["transfer"]
    assert transfer.meta["kb"] == "larkspur"
    hallucination = transfer.gain("hallucination.hallucination_rate", "rag")
    assert hallucination is not None
    assert hallucination.ci_high is not None
    assert hallucination.ci_high < 0, hallucination
    accuracy = transfer.gain("accuracy.correct", "rag")
    assert accuracy is not None
    assert accuracy.ci_high is not None
    assert accuracy.ci_high > 0, accuracy


def test_the_demo_prints_every_step_with_its_time(demo: dict[str, Any]) -> None:
    steps = demo["summary"]["steps_s"]
    assert len(steps) == 7
    assert all(seconds >= 0 for seconds in steps.values())  # generating the domain rounds to 0.0
    assert demo["summary"]["total_s"] == pytest.approx(sum(steps.values()), abs=0.5)
    assert "== step times" in demo["stdout"]


def test_an_adapter_trained_for_one_step_fails_the_gate(demo: dict[str, Any]) -> None:
    from finerag.embedded import InProcessRetrieval
    from finerag.pipeline import DEMO_BASES, demo_settings, evaluate_demo
    from services.trainer.config import CONFIGS_DIR, load_config
    from services.trainer.recipe import QLoRARecipe

    out: Path = demo["out"]
    settings = demo_settings(out)
    model_dir, dataset = Path(demo["summary"]["base_model"]), Path(demo["summary"]["dataset"])
    config = load_config(
        CONFIGS_DIR / DEMO_BASES["smollm2"].config,
        {"base_model": str(model_dir), "dataset": str(dataset), "name": "one-step",
         "max_steps": 1},
    )  # fmt: skip
    QLoRARecipe(config, settings, report=lambda _line: None).run()
    with InProcessRetrieval.open(settings) as retrieval:
        _evaluation, verdict = evaluate_demo(
            settings, retrieval, "acme", out / "sample" / "qa.jsonl", model_dir,
            dataset, "one-step", out / "evaluation-one-step",
            max_cases=ONE_STEP_CASES, modes=("rag",), variants=False, injection=False,
        )  # fmt: skip
    assert not verdict.passed, verdict
    failed = {rule.metric for rule in verdict.rules if not rule.skipped and not rule.passed}
    assert "accuracy.correct" in failed or "hallucination.hallucination_rate" in failed
