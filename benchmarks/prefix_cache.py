"""What reusing the grounded prompt's shared prefix (its system turn) would buy the demo's prefill.

Every grounded prompt starts with the same system turn. A prefix cache (vLLM's automatic prefix
caching, SGLang's RadixAttention) computes that prefix's keys and values once and prefills only
the rest of each prompt. This script measures the upper bound of that saving on the demo's own
RAG prompts, in one run, on the same model and precision as the demo's evaluation:
  - full: batches of `--batch-size` left-padded prompts prefilled whole (what the engine does);
  - cached: the shared prefix prefilled once, its cache broadcast to the batch, and only each
    prompt's remainder prefilled (the prefix-caching path, without any bookkeeping cost).
It checks that both give the same next-token logits (up to rounding), prints prefill tokens/s of
each and the ratio, and what share of the demo's evaluation prefill the prefix is, from the
token counts of every generation in `cases.jsonl`.

    finerag demo --out /tmp/demo
    python benchmarks/prefix_cache.py --demo /tmp/demo [--batch-size 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _prompts(demo: Path) -> list[str]:
    path = demo / "evaluation" / "cases.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} not found: run `finerag demo --out {demo}` first")
    return [json.loads(line)["prompt"] for line in path.read_text().splitlines() if line.strip()]


def _shared_prefix(rows: list[list[int]]) -> int:
    """The number of leading token ids every row has in common."""
    first = rows[0]
    length = min(len(r) for r in rows)
    for i in range(length):
        if any(r[i] != first[i] for r in rows):
            return i
    return length


def _left_pad(rows: list[list[int]], pad: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids, mask


def _full(model: Any, rows: list[list[int]], pad: int) -> Any:
    """Prefill whole prompts, left-padded; the last position's logits."""
    import torch
    from transformers import DynamicCache

    ids, mask = _left_pad(rows, pad)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=DynamicCache(),
            use_cache=True,
            logits_to_keep=1,
        )
    return out.logits[:, -1].float()


def _prefix_cache(model: Any, prefix: list[int]) -> Any:
    import torch
    from transformers import DynamicCache

    cache = DynamicCache()
    with torch.inference_mode():
        model(input_ids=torch.tensor([prefix]), cache=cache, use_cache=True)
    return cache


def _cached(model: Any, prefix_cache: Any, prefix_len: int, rows: list[list[int]], pad: int) -> Any:
    """Broadcast the prefix's cache to the batch and prefill each prompt's remainder only.

    The layout per row is [prefix][pads][remainder]: the pads are masked, and positions count
    unmasked tokens, so every token sits where it would in its own unpadded prompt."""
    import torch
    from transformers import DynamicCache

    batch = len(rows)
    cache = DynamicCache()
    for layer, (keys, values) in enumerate(_layers(prefix_cache)):
        cache.update(keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1), layer)
    ids, rest_mask = _left_pad([r[prefix_len:] for r in rows], pad)
    mask = torch.cat([torch.ones((batch, prefix_len), dtype=torch.long), rest_mask], dim=1)
    positions = prefix_len + (rest_mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
    return out.logits[:, -1].float()


def _layers(cache: Any) -> list[tuple[Any, Any]]:
    """(keys, values) per layer of a DynamicCache, across transformers' cache layouts."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


def _best(fn: Any, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, required=True, help="a `finerag demo --out` folder")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=4, help="batches of RAG prompts timed")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from shared.modeling import device_profile, load_base_model, load_tokenizer

    summary = json.loads((args.demo / "demo.json").read_text())
    base = summary["base_model"]
    tokenizer = load_tokenizer(base)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    prompts = _prompts(args.demo)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    rag = [ids for p, ids in zip(prompts, encoded, strict=True) if "<sources>" in p]
    prefix_len = _shared_prefix(rag)
    total = sum(len(r) for r in encoded)
    saved = prefix_len * len(rag)
    print(f"{len(prompts)} generations, {total:,} prompt tokens; {len(rag)} RAG prompts share a "
          f"prefix of {prefix_len} tokens: {saved:,} tokens, {saved / total:.1%} of the "
          "evaluation's prefill", flush=True)  # fmt: skip

    profile = device_profile()
    model = load_base_model(base, quantization="none", profile=profile)
    model.eval()
    size = args.batch_size
    batches = [rag[i : i + size] for i in range(0, size * args.batches, size)]
    batches = [b for b in batches if len(b) == size]
    tokens = sum(len(r) for b in batches for r in b)
    prefix = rag[0][:prefix_len]

    worst = 0.0
    for batch in batches:
        full, cached = _full(model, batch, pad), _cached(model, _prefix_cache(model, prefix),
                                                         prefix_len, batch, pad)  # fmt: skip
        worst = max(worst, float((full - cached).abs().max()))
        same = bool((full.argmax(-1) == cached.argmax(-1)).all())
        assert same, "the cached prefix changed a greedy next token"

    full_s = _best(lambda: [_full(model, b, pad) for b in batches], args.repeats)
    shared = _prefix_cache(model, prefix)  # once, as a prefix cache keeps it
    cached_s = _best(lambda: [_cached(model, shared, prefix_len, b, pad) for b in batches],
                     args.repeats)  # fmt: skip
    print(f"{profile.compute_dtype}, {torch.get_num_threads()} threads, {len(batches)} batches "
          f"of {size} RAG prompts ({tokens:,} tokens)", flush=True)  # fmt: skip
    print(f"  full prefill    {full_s:6.2f} s  {tokens / full_s:8.0f} prompt tok/s")
    print(f"  cached prefix   {cached_s:6.2f} s  {tokens / cached_s:8.0f} prompt tok/s "
          "(the prefix prefilled once, before)")  # fmt: skip
    print(f"  ratio           {full_s / cached_s:.2f}x; next-token logits differ by at most "
          f"{worst:.3g}, greedy tokens identical")  # fmt: skip


if __name__ == "__main__":
    main()
