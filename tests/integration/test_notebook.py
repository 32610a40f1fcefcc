"""The Colab notebook, executed cell by cell on the CPU with the tiny model and no network.

The notebook's first code cell (tagged `parameters`) holds every variable; the test inserts a
cell after it, as papermill would, pointing it at this checkout, the tiny model and the tiny
recipe config with a few steps. NOTEBOOK_OFFLINE=1 makes the install and Hub-login cells skip.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "colab_finetune.ipynb"
QUICK_RECIPE = ["max_steps=2", "eval_steps=1", "save_steps=2", "logging_steps=1",
                "per_device_train_batch_size=2", "max_length=1024"]  # fmt: skip
QUICK_EVAL = ["--no-variants", "--no-step-by-step", "--max-tokens", "8", "--bootstrap", "20"]


def with_parameters(notebook: nbformat.NotebookNode, **values: object) -> None:
    """Insert a cell that sets `values` right after the `parameters` cell."""
    index = next(
        i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])
    )
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, cell)


def test_the_notebook_is_valid_and_parametrised():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata["tags"]
    assert "llama3_1_8b_qlora.yaml" in first_code.source
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")


def test_the_notebook_fine_tunes_and_saves_the_tiny_model_on_the_cpu(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name in [n for n in os.environ if n.startswith("FINERAG_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("NOTEBOOK_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    work = tmp_path / "work"
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with_parameters(
        notebook,
        REPO_DIR=str(REPO),
        CONFIG="services/trainer/configs/tiny_qlora.yaml",
        BASE_MODEL=str(tiny_model_dir),
        MODEL_NAME="colab-tiny",
        QUESTION_LIMIT=24,
        OVERRIDES=QUICK_RECIPE,
        EVAL_OPTIONS=QUICK_EVAL,
        WORK_DIR=str(work),
        SAVE_TO_DRIVE=False,
    )
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources=resources).execute()

    printed = "".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )
    assert "recall@" in printed  # the retrieval evaluation ran

    # Fine-tuned: the adapter in the registry loads onto its base, and training moved it
    # (LoRA's B matrices start at zero).
    import torch
    from peft import PeftModel

    from shared.models.loading import load_base_model

    adapter = work / "data" / "models" / "colab-tiny"
    assert "fine-tuned model 'colab-tiny' written" in printed
    card = json.loads((adapter / "card.json").read_text())
    assert card["base_model"] == str(tiny_model_dir)
    model = PeftModel.from_pretrained(load_base_model(tiny_model_dir), adapter)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b
    assert all(torch.count_nonzero(p) > 0 for p in lora_b)

    # Saved: the zip is the registry folder, weights and card included.
    with zipfile.ZipFile(work / "colab-tiny.zip") as archive:
        assert (
            archive.read("adapter_model.safetensors")
            == (adapter / "adapter_model.safetensors").read_bytes()
        )
        assert json.loads(archive.read("card.json")) == card

    # Evaluated: both models, without and with RAG, each on real questions; the verdict it
    # printed is the shipped gate applied to that report (a 2-step model may fail it: reported,
    # not raised).
    from services.evaluation import Report, apply_gate, load_gate

    report = Report.model_validate_json((work / "eval" / "report.json").read_text())
    models = {"base": str(tiny_model_dir), "fine_tuned": "colab-tiny"}
    assert {(run.role, run.mode) for run in report.runs.values()} == {
        (role, mode) for role in models for mode in ("no_rag", "rag")
    }
    for run in report.runs.values():
        assert run.model == models[run.role]
        assert run.generations > 0
        accuracy = report.stat("accuracy.correct", run.role, run.mode)
        assert accuracy is not None
        assert accuracy.n > 0
    assert report.gate is not None
    gate = REPO / "services" / "trainer" / "configs" / "gates" / "release.yaml"
    assert apply_gate(report, load_gate(gate), source=report.gate.source) == report.gate
    said = "passed" if report.gate.passed else "FAILED (see the report)"
    assert f"release gate: {said}" in printed
