"""Decoding rows of one length: transformers' SDPA vs the engine's packed decoding attention.

When every row of a batch is as long as the others (a single request, or prompts of one length),
transformers drops the attention mask and lets the SDPA kernel repeat the key/value heads
(`enable_gqa`); on a CPU that is several times slower than the packed path it takes when there
is a mask (`shared.models.generation.attention`). This script decodes `--steps` tokens for
`--rows` rows of `--tokens` prompt tokens each, no padding, on SmolLM2-135M (or `--model DIR`)
under both implementations in one run, and prints ms per step, the ratio, and whether the
greedy tokens agree.

    python benchmarks/decode_attention.py [--model DIR] [--rows 16] [--tokens 480] [--steps 16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _decode(model: Any, rows: int, tokens: int, steps: int) -> tuple[float, list[list[int]]]:
    """(seconds per step, each step's greedy tokens) for rows of one length."""
    import torch

    from shared.models.generation.prefill import prefill

    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(100, 20000, (tokens,), generator=generator).tolist()] * rows
    picked: list[list[int]] = []
    with torch.inference_mode():
        logits, mask, positions, cache = prefill(model, prompts, 0, steps, share_prefix=False)
        next_pos = positions[:, -1:] + 1
        started = time.perf_counter()
        for step in range(steps):
            tokens_now = logits.argmax(-1, keepdim=True)
            picked.append(tokens_now.squeeze(-1).tolist())
            mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=-1)
            out = model(
                input_ids=tokens_now, attention_mask=mask, position_ids=next_pos + step, cache=cache
            )
            logits = out.logits[:, -1]
    return (time.perf_counter() - started) / steps, picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a base model folder (default: SmolLM2-135M)")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=480)
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args()

    from finerag.gguf_import import ensure_smollm2
    from shared.models.generation.attention import NAME, use_packed_decoding
    from shared.models.loading import load_base_model

    with tempfile.TemporaryDirectory(prefix="finerag-attn-") as scratch:
        model = load_base_model(args.model or str(ensure_smollm2(Path(scratch) / "m"))).eval()
    results = {}
    for arm in ("sdpa", NAME):
        if arm == NAME:
            use_packed_decoding(model)
        _decode(model, args.rows, args.tokens, 2)  # warm-up
        results[arm] = _decode(model, args.rows, args.tokens, args.steps)
        print(f"  {arm:13} {1000 * results[arm][0]:7.1f} ms/step", flush=True)
    ratio = results["sdpa"][0] / results[NAME][0]
    same = results["sdpa"][1] == results[NAME][1]
    print(f"{NAME} / sdpa: {ratio:.2f}x faster per step; same greedy tokens: {same}")


if __name__ == "__main__":
    main()
