"""`finerag eval` end to end on a few sample-domain cases with the tiny model: in-process, then
through a real gateway process with `--endpoint`; the release gate's exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.gateway_processes import REPO, build_adapter, gateway_env, running_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KB = "acme"
MODEL = "acme-eval"
REDIS_EVAL_URL = "redis://127.0.0.1:6379/12"
# A handful of cases (spread over the four types), few tokens: the whole module runs in minutes.
BUDGET = ["--limit", "4", "--variant-kinds", "terse,follow_up", "--max-tokens", "8",
          "--step-by-step-max-tokens", "16", "--bootstrap", "200", "--top-k", "3"]  # fmt: skip
FAILING_GATE = """\
rules:
  - metric: accuracy.correct
    direction: higher
    absolute: 0.10
"""
PASSING_GATE = """\
rules:
  - metric: behaviour.error_rate
    max: 0
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, sample_kb_settings, tiny_model_dir: Path):
    """The sample knowledge base's store (shared, read-only here) and a registry with a LoRA
    adapter on the tiny model (random weights: it really changes the answers, for the worse)."""
    data = tmp_path_factory.mktemp("eval-data")
    (data / "edge").symlink_to(sample_kb_settings.edge_path, target_is_directory=True)
    build_adapter(tiny_model_dir, data / "models", MODEL)
    return data


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINERAG_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", FINERAG_DATA_DIR=str(data_dir),
               FINERAG_LOG_LEVEL="WARNING")  # fmt: skip
    return env


def _finerag(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finerag", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _outputs(out: Path) -> tuple[dict, list[dict]]:
    """report.json and cases.jsonl, parsed; every other output present."""
    for name in ("report.md", "matrix.png", "by_type.png", "variants.png"):
        assert (out / name).is_file(), name
    assert (out / "matrix.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((out / "report.json").read_text())
    records = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    return report, records


@pytest.fixture(scope="module")
def in_process(
    data_dir: Path, sample_domain, sample_dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder = tmp_path_factory.mktemp("eval-in-process")
    gate = folder / "gate.yaml"
    gate.write_text(FAILING_GATE)
    out = folder / "out"
    result = _finerag(
        ["eval", "--model", MODEL, "--qa", str(sample_domain.qa_path), "--kb", KB,
         "--out", str(out), "--dataset", str(sample_dataset), "--gate", str(gate), *BUDGET],
        _env(data_dir),
    )  # fmt: skip
    return result, out


def test_in_process_run_writes_every_output(in_process, tiny_model_dir: Path):
    result, out = in_process
    assert result.returncode == 1, result.stderr[-3000:]  # the random adapter fails the gate
    assert "gate FAILED" in result.stdout
    assert "evaluating: 100%" in result.stderr  # the progress bar
    report, records = _outputs(out)
    assert report["meta"]["models"] == {"fine_tuned": MODEL, "base": str(tiny_model_dir)}
    assert report["meta"]["cases_by_type"] == {
        "factual": 1, "unanswerable": 1, "multi_hop": 1, "arithmetic": 1,
    }  # fmt: skip
    assert set(report["runs"]) == {"base/no_rag", "base/rag", "fine_tuned/no_rag", "fine_tuned/rag"}
    tuned = report["runs"]["fine_tuned/rag"]["metrics"]
    for name in ("accuracy.correct", "hallucination.hallucination_rate", "behaviour.stop_rate"):
        stat = tuned[name]["overall"]
        assert stat["n"] > 0
        assert stat["ci_low"] <= stat["value"] <= stat["ci_high"]
    assert report["metrics"]["retrieval.recall@5"]["overall"]["n"] == 3  # answerable cases
    assert report["gate"]["passed"] is False
    assert "NaN" not in (out / "report.json").read_text()
    assert len(records) == sum(run["generations"] for run in report["runs"].values())
    rag = next(r for r in records if r["run"] == "fine_tuned/rag" and r["retrieved"])
    assert rag["prompt"].startswith("<|begin_of_text|>")
    assert '<source id="1"' in rag["prompt"]
    assert {r["finish_reason"] for r in records} <= {"stop", "length"}


def test_served_prompts_match_the_dataset_builders(in_process):
    report, _ = _outputs(in_process[1])
    check = report["prompt_check"]
    assert check["rendered"] is True
    assert check["compared"] + check["missing"] == 4
    assert check["compared"] >= 1
    # Retrieval may differ (the builder brings in missing gold evidence); the template never.
    assert check["template_identical"] == check["compared"], check["mismatches"]
    assert all(m["reason"] == "sources differ" for m in check["mismatches"])


def test_gate_subcommand_exit_codes(in_process, tmp_path: Path, data_dir: Path):
    passing = tmp_path / "pass.yaml"
    passing.write_text(PASSING_GATE)
    report = in_process[1] / "report.json"
    ok = _finerag(["eval", "gate", "--report", str(report), "--gate", str(passing)], _env(data_dir))
    assert ok.returncode == 0, ok.stderr
    assert "gate PASSED" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - metric: accuracy.nope\n    min: 1\n")
    refused = _finerag(
        ["eval", "gate", "--report", str(report), "--gate", str(bad)], _env(data_dir)
    )
    assert refused.returncode == 2
    assert "unknown metric 'accuracy.nope'" in refused.stderr


def test_bad_input_is_a_clear_error(data_dir: Path, sample_domain, tmp_path: Path):
    env = _env(data_dir)
    unknown = _finerag(["eval", "--model", "nope", "--qa", str(sample_domain.qa_path),
                        "--out", str(tmp_path / "x")], env)  # fmt: skip
    assert unknown.returncode == 2
    assert "'nope' is not in the registry" in unknown.stderr
    assert MODEL in unknown.stderr
    broken = tmp_path / "qa.jsonl"
    broken.write_text(sample_domain.qa_path.read_text().splitlines()[0] + "\n{oops\n")
    bad_line = _finerag(
        ["eval", "--model", MODEL, "--qa", str(broken), "--out", str(tmp_path)], env
    )
    assert bad_line.returncode == 2
    assert "qa.jsonl line 2" in bad_line.stderr


@pytest.fixture(scope="module")
def gateway_url(
    tiny_model_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    serving = tmp_path_factory.mktemp("eval-gateway-data")
    (serving / "models").symlink_to(data_dir / "models", target_is_directory=True)
    env = gateway_env(base_model=str(tiny_model_dir), data_dir=str(serving),
                      redis_url=REDIS_EVAL_URL, rate_limit_per_minute="0")  # fmt: skip
    log = tmp_path_factory.mktemp("eval-gateway-log") / "gateway.log"
    with running_gateway(env, log) as url:
        yield url


def test_endpoint_run_against_a_real_gateway(
    gateway_url: str, in_process, data_dir: Path, sample_domain, tiny_model_dir: Path,
    tmp_path: Path,
):  # fmt: skip
    out = tmp_path / "out"
    result = _finerag(
        ["eval", "--model", MODEL, "--base", str(tiny_model_dir), "--qa",
         str(sample_domain.qa_path), "--kb", KB, "--out", str(out), "--endpoint", gateway_url,
         "--concurrency", "4", *BUDGET],
        _env(data_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report, records = _outputs(out)
    assert report["meta"]["endpoint"] == gateway_url
    assert all(r["prompt"] for r in records)  # rendered with the base's local tokenizer
    # The same greedy model answers the same through the gateway as in-process (a near-tie
    # token may flip where batches pad differently: the random tiny model is full of near-ties,
    # and in bf16 50 of 56 answers agreed in one run; one at a time they agree exactly, below).
    _, local = _outputs(in_process[1])
    key = lambda r: (r["run"], r["case_id"], r["variant"], r["step_by_step"], r["injection"])  # noqa: E731
    here = {key(r): r["answer"].strip() for r in local}
    same = [here[key(r)] == r["answer"].strip() for r in records]
    assert len(same) == len(here)
    assert sum(same) >= 0.85 * len(same)


def test_one_at_a_time_the_gateway_and_the_in_process_run_answer_identically(
    gateway_url: str, data_dir: Path, sample_domain, tiny_model_dir: Path, tmp_path: Path
):
    """Both generate through `shared.models.generation.Engine`: with batches of one on both sides
    (no padding to round differently) every greedy answer is the same, token for token."""
    common = ["eval", "--model", MODEL, "--base", str(tiny_model_dir), "--qa",
              str(sample_domain.qa_path), "--kb", KB, *BUDGET]  # fmt: skip
    local = _finerag(
        [*common, "--out", str(tmp_path / "local"), "--batch-size", "1"], _env(data_dir)
    )
    served = _finerag(
        [
            *common,
            "--out",
            str(tmp_path / "served"),
            "--endpoint",
            gateway_url,
            "--concurrency",
            "1",
        ],
        _env(data_dir),
    )
    assert local.returncode == 0, local.stderr[-3000:]
    assert served.returncode == 0, served.stderr[-3000:]
    key = lambda r: (r["run"], r["case_id"], r["variant"], r["step_by_step"], r["injection"])  # noqa: E731
    answers = [
        {key(r): (r["answer"], r["finish_reason"]) for r in _outputs(tmp_path / name)[1]}
        for name in ("local", "served")
    ]
    assert len(answers[0]) > 20
    assert answers[0] == answers[1]
