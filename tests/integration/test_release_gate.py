"""The release gate on real fine-tuning: a trained model passes, an under-trained one fails.

Both are QLoRA adapters of the tiny model trained with the real recipe on the sample domain's
grounded dataset, one for 40 steps and one for a single step; `finerag eval` measures each
against the same base with RAG on 16 validation questions (never trained on) and applies one
gate: the fine-tuned model ends its turn within 24 tokens at least 30 points more often than the
base (`behaviour.stop_rate`, compared between the pessimistic ends of the 95% intervals, so a
lucky draw cannot pass it), and no generation failed. The test asserts that the 40-step model
passes, that the 1-step model fails on the stop-rate rule alone, and that the base measured the
same in both evaluations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.gateway_processes import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KB = "acme"
GATE = """\
mode: rag
rules:
  - name: ends its turn far more often than the base
    metric: behaviour.stop_rate
    direction: higher
    absolute: 0.30
    interval: true
  - name: no failed generations
    metric: behaviour.error_rate
    max: 0
"""
BUDGET = ["--split", "validation", "--limit", "16", "--no-variants", "--no-step-by-step",
          "--modes", "rag", "--max-tokens", "24", "--bootstrap", "300", "--top-k", "3"]  # fmt: skip


def _train(settings, tiny_model_dir: Path, dataset: Path, name: str, steps: int) -> None:
    from services.trainer.config import CONFIGS_DIR, load_config
    from services.trainer.recipe import QLoRARecipe

    config = load_config(
        CONFIGS_DIR / "tiny_qlora.yaml",
        {"base_model": str(tiny_model_dir), "dataset": str(dataset), "name": name,
         "max_steps": steps, "eval_steps": 1000, "save_steps": 1000},
    )  # fmt: skip
    QLoRARecipe(config, settings, report=lambda _line: None).run()


@pytest.fixture(scope="module")
def data_dir(
    tmp_path_factory: pytest.TempPathFactory, sample_kb_settings, tiny_model_dir, sample_dataset
) -> Path:
    from shared.infrastructure.settings import Settings

    data = tmp_path_factory.mktemp("gate-data")
    (data / "edge").symlink_to(sample_kb_settings.edge_path, target_is_directory=True)
    settings = Settings(_env_file=None, data_dir=data)
    _train(settings, tiny_model_dir, sample_dataset, "acme-trained", steps=40)
    _train(settings, tiny_model_dir, sample_dataset, "acme-undertrained", steps=1)
    return data


def _evaluate(data_dir: Path, model: str, sample_domain, sample_dataset: Path, out: Path):
    out.parent.mkdir(parents=True, exist_ok=True)
    gate = out.parent / "gate.yaml"
    gate.write_text(GATE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINERAG_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", FINERAG_DATA_DIR=str(data_dir),
               FINERAG_LOG_LEVEL="WARNING")  # fmt: skip
    argv = ["eval", "--model", model, "--qa", str(sample_domain.qa_path), "--kb", KB,
            "--dataset", str(sample_dataset), "--out", str(out), "--gate", str(gate),
            *BUDGET]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "finerag", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return result, report


def test_trained_model_passes_and_under_trained_model_fails(
    data_dir: Path, sample_domain, sample_dataset: Path, tmp_path: Path
):
    trained, trained_report = _evaluate(
        data_dir, "acme-trained", sample_domain, sample_dataset, tmp_path / "trained" / "out"
    )
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    assert trained_report["gate"]["passed"] is True

    under, under_report = _evaluate(
        data_dir, "acme-undertrained", sample_domain, sample_dataset, tmp_path / "under" / "out"
    )
    assert under.returncode == 1, under.stdout[-3000:] + under.stderr[-3000:]
    assert under_report["gate"]["passed"] is False
    failed = [rule["rule"] for rule in under_report["gate"]["rules"] if not rule["passed"]]
    assert failed == ["ends its turn far more often than the base"]
    # The measured difference behind the verdicts, for both models against the same base.
    stop = "behaviour.stop_rate"
    runs = {name: report["runs"] for name, report in (("t", trained_report), ("u", under_report))}
    assert runs["t"]["base/rag"]["metrics"][stop]["overall"]["value"] == pytest.approx(
        runs["u"]["base/rag"]["metrics"][stop]["overall"]["value"]
    )
