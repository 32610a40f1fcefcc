"""float32 vs bfloat16 compute on this CPU, for the 4-bit base the project serves and trains.

On a CPU with AMX tiles or AVX-512 BF16 (`shared.models.loading.cpu_computes_bf16`), oneDNN
multiplies bf16 matrices several times faster than fp32, so `device_profile()` picks bf16 there.
This script measures what that buys on a real model, in one run: prefill (8 prompts of 480 tokens,
logits for the last position only), one decode step at batch 8 and at batch 1, and one LoRA
training step (4 rows of 480 tokens, adapters on the last 16 layers, loss on the last 120
positions), each with the 4-bit NF4 base computing in fp32 and in bf16, and the plain (unquantized)
base in both for reference. Prints tokens/s or ms and the bf16/fp32 ratio.

    finerag model smollm2 --out /tmp/smollm2
    python benchmarks/cpu_precision.py --model /tmp/smollm2 [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PREFILL_ROWS, PREFILL_LEN = 8, 480
TRAIN_ROWS, TRAIN_LEN, TRAIN_LABELLED = 4, 480, 120


def _best(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of `repeats` timed calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _inference(model: Any, repeats: int) -> dict[str, float]:
    import torch
    from transformers import DynamicCache

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(100, 40_000, (PREFILL_ROWS, PREFILL_LEN), generator=generator)

    def prefill(rows: int = PREFILL_ROWS) -> DynamicCache:
        cache = DynamicCache()
        model(input_ids=ids[:rows], cache=cache, logits_to_keep=1, use_cache=True)
        return cache

    def step(cache: DynamicCache, rows: int) -> None:
        model(input_ids=ids[:rows, :1], cache=cache, use_cache=True)

    with torch.inference_mode():
        prefill_s = _best(prefill, repeats)
        results = {"prefill tok/s": PREFILL_ROWS * PREFILL_LEN / prefill_s}
        for rows in (8, 1):
            # Each timed call appends one token to the same cache, as decoding does.
            timed = functools.partial(step, prefill(rows), rows)
            results[f"decode B={rows} ms"] = 1000 * _best(timed, repeats * 5)
    return results


def _train_step(model: Any, repeats: int) -> float:
    import torch
    from peft import get_peft_model

    from shared.models.loading import lora_config

    peft_model = get_peft_model(model, lora_config(16, 32, 0.0, model=model, layers=16))
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
    for parameter in trainable:  # as the recipe: adapters in the compute dtype (TRL's cast)
        parameter.data = parameter.data.to(dtype)
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(100, 40_000, (TRAIN_ROWS, TRAIN_LEN), generator=generator)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            logits = peft_model(input_ids=ids, logits_to_keep=TRAIN_LABELLED).logits
        loss = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), ids[:, -TRAIN_LABELLED:].reshape(-1)
        )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    return TRAIN_ROWS * TRAIN_LEN / _best(step, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model folder (finerag model smollm2)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from shared.models.loading import DeviceProfile, cpu_computes_bf16, load_base_model

    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 in hardware: "
          f"{cpu_computes_bf16()}", flush=True)  # fmt: skip
    rows: dict[str, dict[str, float]] = {}
    for quantization in ("4bit", "none"):
        for bf16 in (False, True):
            arm = f"{'4-bit' if quantization == '4bit' else 'plain'} {'bf16' if bf16 else 'fp32'}"
            profile = DeviceProfile("cpu", bf16=bf16)
            model = load_base_model(args.model, quantization=quantization, profile=profile)
            model.eval()
            rows[arm] = _inference(model, args.repeats)
            rows[arm]["train tok/s"] = _train_step(model, args.repeats)
            print(
                f"  {arm}: " + ", ".join(f"{k} {v:.1f}" for k, v in rows[arm].items()), flush=True
            )
            del model

    metrics = list(next(iter(rows.values())))
    print(f"\n{'':16}" + "".join(f"{m:>16}" for m in metrics))
    for arm, values in rows.items():
        print(f"{arm:16}" + "".join(f"{values[m]:16.1f}" for m in metrics))
    for kind in ("4-bit", "plain"):
        slow, fast = rows[f"{kind} fp32"], rows[f"{kind} bf16"]
        # Throughputs: bf16 / fp32; latencies: fp32 / bf16 (above 1 means bf16 is faster).
        ratios = [fast[m] / slow[m] if "tok/s" in m else slow[m] / fast[m] for m in metrics]
        print(f"{kind + ' speed-up':16}" + "".join(f"{r:15.2f}x" for r in ratios))


if __name__ == "__main__":
    main()
