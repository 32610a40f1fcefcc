"""`finerag export NAME --merge`: the adapter folded into full-precision base weights."""

from __future__ import annotations

from pathlib import Path

from shared.infrastructure.registry import model_dir, read_card
from shared.infrastructure.settings import Settings
from shared.models.loading import DeviceProfile, load_base_model, load_tokenizer


def export_merged(settings: Settings, name: str, out: Path) -> Path:
    """Load the base unquantized (merging into 4-bit weights would lose precision), merge, save."""
    import torch
    from peft import PeftModel

    card = read_card(settings.models_dir, name)
    adapter = model_dir(settings.models_dir, name)
    base = load_base_model(
        card.base_model, profile=DeviceProfile("cpu", bf16=False), dtype=torch.float32
    )
    merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out, safe_serialization=True)
    load_tokenizer(adapter).save_pretrained(out)
    (out / "finerag_card.json").write_text(card.model_dump_json(indent=2) + "\n")
    return out
