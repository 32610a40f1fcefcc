"""The model registry: a folder per fine-tuned model under `FINERAG_DATA_DIR/models/`.

    models/NAME/
        adapter_model.safetensors, adapter_config.json   LoRA weights (PEFT's format)
        tokenizer.json, tokenizer_config.json, ...        the tokenizer trained with
        card.json                                         ModelCard below

The trainer writes entries (atomically: into a temporary folder, then renamed); the gateway and
the evaluation read them. Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from shared.contracts.errors import NotFoundError
from shared.contracts.names import validate_model_name
from shared.infrastructure.files import write_text_atomically

CARD_FILE = "card.json"


class ModelCard(BaseModel):
    """What a registry entry is: where it came from, how it was made, how it measured."""

    name: str
    base_model: str = Field(description="Hub id or path of the base the adapter applies to.")
    dataset_version: str | None = Field(None, description="Content hash of the training data.")
    job_id: str | None = None
    method: str = "qlora"
    config: dict[str, Any] = Field(
        default_factory=dict, description="The recipe config the run was given (RecipeConfig)."
    )
    training_args: dict[str, Any] = Field(
        default_factory=dict,
        description="The trl.SFTConfig it trained with, every argument resolved (its to_dict(), "
        "less the output folder and masked tokens); empty in cards written before it was kept.",
    )
    metrics: dict[str, Any] = Field(default_factory=dict, description="Training metrics.")
    evaluation: dict[str, Any] | None = Field(None, description="Evaluation report summary.")
    gate: dict[str, Any] | None = Field(None, description="Release-gate verdict.")
    promoted: bool = Field(True, description="Served by default; false when the gate failed.")
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def model_dir(models_dir: Path, name: str) -> Path:
    """The folder of a registry entry (which may not exist yet)."""
    return models_dir / validate_model_name(name)


def read_card(models_dir: Path, name: str) -> ModelCard:
    """The card of a registry entry; NotFoundError when there is none."""
    path = model_dir(models_dir, name) / CARD_FILE
    if not path.is_file():
        raise NotFoundError(
            f"The model {name!r} does not exist.", param="model", code="model_not_found"
        )
    return ModelCard.model_validate_json(path.read_text(encoding="utf-8"))


def list_cards(models_dir: Path) -> list[ModelCard]:
    """Every complete registry entry, oldest first."""
    if not models_dir.is_dir():
        return []
    cards = []
    for entry in sorted(models_dir.iterdir()):
        card = entry / CARD_FILE
        if entry.is_dir() and not entry.name.startswith(".") and card.is_file():
            cards.append(ModelCard.model_validate_json(card.read_text(encoding="utf-8")))
    return sorted(cards, key=lambda c: c.created)


def write_card(folder: Path, card: ModelCard) -> None:
    """Write card.json atomically (temporary file, then rename)."""
    write_text_atomically(folder / CARD_FILE, card.model_dump_json(indent=2) + "\n")


def publish(staging: Path, models_dir: Path, name: str) -> Path:
    """Move a fully written staging folder into the registry as `name`, replacing an older one."""
    target = model_dir(models_dir, name)
    if not (staging / CARD_FILE).is_file():
        raise ValueError(f"{staging} has no {CARD_FILE}: refusing to publish a partial model")
    models_dir.mkdir(parents=True, exist_ok=True)
    if target.exists():
        retired = target.with_name(f".{name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, target)
    return target


def card_summary(card: ModelCard) -> dict[str, Any]:
    """The fields a listing shows."""
    return json.loads(card.model_dump_json(include={"name", "base_model", "created", "promoted"}))
