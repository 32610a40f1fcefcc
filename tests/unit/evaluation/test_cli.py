"""`finerag eval` argument handling and `finerag eval gate`, without loading any model."""

from __future__ import annotations

from pathlib import Path

import pytest

from finerag.cli import build_parser, main
from services.evaluation.bootstrap import Stat
from services.evaluation.report import MetricResult, Report, RunReport


def _report(path: Path, tuned: float, base: float) -> Path:
    runs = {
        f"{role}/rag": RunReport(
            role=role,
            model=role,
            mode="rag",
            metrics={"accuracy.correct": MetricResult(overall=Stat(value=value, n=10))},
        )
        for role, value in (("base", base), ("fine_tuned", tuned))
    }
    path.write_text(Report(runs=runs).model_dump_json())
    return path


GATE = "rules:\n  - metric: accuracy.correct\n    direction: higher\n    absolute: 0.1\n"


def test_eval_is_a_group_that_also_takes_model_options():
    parser = build_parser()
    args = parser.parse_args(["eval", "--model", "m", "--qa", "q.jsonl", "--out", "o"])
    assert args.func.__name__ == "run_eval_models"
    assert (args.model, args.modes, args.variants, args.step_by_step) == (
        "m",
        ["no_rag", "rag"],
        True,
        True,
    )
    retrieval = parser.parse_args(["eval", "retrieval", "--kb", "acme", "--qa", "q.jsonl"])
    assert retrieval.func.__name__ == "run_eval_retrieval"
    limited = parser.parse_args(
        ["eval", "--model", "m", "--types", "factual,arithmetic", "--modes", "rag", "--no-variants"]
    )
    assert limited.types == ["factual", "arithmetic"]
    assert limited.modes == ["rag"]
    assert not limited.variants


def test_bad_option_values_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--model", "m", "--types", "trivia"])
    assert "unknown value(s) ['trivia']" in capsys.readouterr().err


def test_missing_required_options_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["eval", "--model", "m"]) == 2
    assert "finerag eval needs --qa, --out" in capsys.readouterr().err


def test_split_validation_needs_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"id": "a", "question": "q", "answer": "x", "type": "factual"}\n')
    code = main(["eval", "--model", "m", "--qa", str(qa), "--out", str(tmp_path / "o"),
                 "--split", "validation"])  # fmt: skip
    assert code == 2
    assert "--split validation needs --dataset" in capsys.readouterr().err


def test_gate_subcommand_passes_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE)
    good = _report(tmp_path / "good.json", tuned=0.7, base=0.5)
    bad = _report(tmp_path / "bad.json", tuned=0.55, base=0.5)
    assert main(["eval", "gate", "--report", str(good), "--gate", str(gate)]) == 0
    assert "gate PASSED" in capsys.readouterr().out
    assert main(["eval", "gate", "--report", str(bad), "--gate", str(gate)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] accuracy.correct (rag, overall) at least 10 points higher than base" in out
    assert "gate FAILED" in out


def test_gate_subcommand_reports_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE)
    assert main(["eval", "gate", "--report", str(tmp_path / "no.json"), "--gate", str(gate)]) == 2
    assert "no such report" in capsys.readouterr().err
    junk = tmp_path / "junk.json"
    junk.write_text('{"runs": 3}')
    assert main(["eval", "gate", "--report", str(junk), "--gate", str(gate)]) == 2
    assert "not a finerag eval report" in capsys.readouterr().err
