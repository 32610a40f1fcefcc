"""Where a QLoRA step spends its time: TRL's fused LM head vs the recipe's completion loss, and
LoRA on every layer vs the last N, on the same model, data and batches, in one run.

Each arm is the recipe's own trainer (`QLoRARecipe.setup()`: 4-bit base, packing, LoRA, fp32
adapters on the CPU) timed over the same packed batches; the fused arm calls TRL's
`SFTTrainer.compute_loss` on that trainer, the default arm the recipe's override. Prints seconds
per step, tokens/s and the ratio to TRL's default (all layers, fused head).

    finerag model smollm2 --out /tmp/smollm2
    python benchmarks/training_step.py --model /tmp/smollm2 [--steps 4] [--layers 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _arm(
    model: str, dataset: Path, out: Path, *, layers: int | None, fused: bool, steps: int
) -> tuple[float, float]:
    import torch
    from trl import SFTTrainer

    from services.trainer.config import CONFIGS_DIR, load_config
    from services.trainer.recipe import QLoRARecipe
    from shared.infrastructure.settings import Settings

    config = load_config(
        CONFIGS_DIR / "smollm2_135m_qlora.yaml",
        {"base_model": model, "dataset": str(dataset), "name": "bench", "lora_layers": layers},
    )
    recipe = QLoRARecipe(config, Settings(data_dir=out), report=lambda _line: None)
    recipe.setup()
    trainer: Any = recipe.trainer
    trainer.model.train()
    batches = iter(trainer.get_train_dataloader())
    loss_of = SFTTrainer.compute_loss if fused else type(trainer).compute_loss

    def step(batch: dict[str, Any]) -> int:
        inputs = trainer._prepare_inputs(batch)
        loss_of(trainer, trainer.model, inputs).backward()
        trainer.model.zero_grad(set_to_none=True)
        return int(inputs["input_ids"].numel())

    step(next(batches))  # warm-up
    torch.manual_seed(0)
    tokens, started = 0, time.perf_counter()
    for _ in range(steps):
        tokens += step(next(batches))
    seconds = time.perf_counter() - started
    recipe.cleanup()
    return seconds / steps, tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a folder from `finerag model smollm2`")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--layers", type=int, default=8, help="lora_layers of the upper arms")
    args = parser.parse_args()
    from finerag.pipeline import demo_dataset

    with tempfile.TemporaryDirectory() as tmp:
        dataset = demo_dataset(Path(tmp), Path(args.model))
        arms = [
            ("TRL fused head, all layers", None, True),
            ("completion loss, all layers", None, False),
            (f"TRL fused head, last {args.layers}", args.layers, True),
            (f"completion loss, last {args.layers}", args.layers, False),
        ]
        rows = []
        for title, layers, fused in arms:
            per_step, tokens_per_s = _arm(
                args.model, dataset, Path(tmp) / "runs", layers=layers, fused=fused,
                steps=args.steps,
            )  # fmt: skip
            rows.append((title, per_step, tokens_per_s))
            print(f"{title:<34} {per_step:6.2f} s/step {tokens_per_s:7.0f} tokens/s", flush=True)
    baseline = rows[0][2]
    print()
    for title, _per_step, tokens_per_s in rows:
        print(f"{title:<34} {tokens_per_s / baseline:5.2f}x the tokens/s of TRL's default")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
