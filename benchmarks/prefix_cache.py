"""The engine's prefill of the demo's RAG prompts: whole, or with the batch's shared prefix once.

Every grounded prompt starts with the same system turn. `shared.models.generation.prefill.prefill`
prefills a batch's common prefix once and copies its keys and values into every row (vLLM's
automatic prefix caching and SGLang's RadixAttention keep such prefixes across batches too).
This script measures what that saves on the demo's own prompts, in one run, on the same model
and precision as the demo's evaluation: batches of `--batch-size` RAG prompts prefilled whole
(`share_prefix=False`) and with the prefix shared. It checks that both give the same greedy next
tokens, prints prompt tokens/s of each and the ratio, and what share of the demo's evaluation
prefill the prefix is, from the token counts of every generation in `cases.jsonl`.

    finerag demo --out /tmp/demo
    python benchmarks/prefix_cache.py --demo /tmp/demo [--batch-size 16] [--batches 4]
"""

from __future__ import annotations

import argparse
import json
import os
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _prompts(demo: Path) -> list[str]:
    path = demo / "evaluation" / "cases.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} not found: run `finerag demo --out {demo}` first")
    return [json.loads(line)["prompt"] for line in path.read_text().splitlines() if line.strip()]


def _best(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of `repeats` timed calls, after one warm-up call."""
    fn()
    return min(timeit.repeat(fn, repeat=repeats, number=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, required=True, help="a `finerag demo --out` folder")
    parser.add_argument("--batch-size", type=int, default=16, help="the engine's default")
    parser.add_argument("--batches", type=int, default=4, help="batches of RAG prompts timed")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from shared.models.generation.prefill import prefill, shared_prefix_length
    from shared.models.loading import device_profile, load_base_model, load_tokenizer

    base = json.loads((args.demo / "demo.json").read_text())["base_model"]
    tokenizer = load_tokenizer(base)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    prompts = _prompts(args.demo)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    rag = [ids for p, ids in zip(prompts, encoded, strict=True) if "<sources>" in p]
    shared = shared_prefix_length(rag)
    total = sum(len(r) for r in encoded)
    print(f"{len(prompts)} generations, {total:,} prompt tokens; {len(rag)} RAG prompts share a "
          f"prefix of {shared} tokens: {shared * len(rag):,} tokens, "
          f"{shared * len(rag) / total:.1%} of the evaluation's prefill", flush=True)  # fmt: skip

    profile = device_profile()
    model = load_base_model(base, quantization="none", profile=profile)
    model.eval()
    size = args.batch_size
    batches = [rag[i : i + size] for i in range(0, size * args.batches, size)]
    batches = [b for b in batches if len(b) == size]
    tokens = sum(len(r) for b in batches for r in b)

    def run(share: bool) -> list[Any]:
        with torch.inference_mode():
            return [prefill(model, b, pad, 1, share_prefix=share)[0] for b in batches]

    whole, split = run(False), run(True)
    worst = max(
        float((a.float() - b.float()).abs().max()) for a, b in zip(whole, split, strict=True)
    )
    same = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in zip(whole, split, strict=True))
    whole_s = _best(lambda: run(False), args.repeats)
    split_s = _best(lambda: run(True), args.repeats)
    print(f"{profile.compute_dtype}, {torch.get_num_threads()} threads, {len(batches)} batches "
          f"of {size} RAG prompts ({tokens:,} tokens)", flush=True)  # fmt: skip
    print(f"  whole prompts    {whole_s:6.2f} s  {tokens / whole_s:8.0f} prompt tok/s")
    print(f"  prefix shared    {split_s:6.2f} s  {tokens / split_s:8.0f} prompt tok/s")
    print(f"  ratio            {whole_s / split_s:.2f}x; greedy next tokens identical in {same} of "
          f"{size * len(batches)} rows, logits within {worst:.3g}")  # fmt: skip


if __name__ == "__main__":
    main()
