"""Recipe (padding-free packing) vs a plain TRL SFTTrainer (padding to the longest), one run.

Same tiny model, same 4-bit base, same LoRA, same precision, batch size and steps, on the same
length-skewed dataset (most examples short, a few long: the shape of real grounded data). Each
loads its attention as the recipe would: the baseline transformers' default `sdpa`, the packed
run `select_attention()`'s choice (`packed_sdpa` on a CPU: causal attention per example, no
block-diagonal mask). Prints tokens/s and peak memory of each and their ratio, per max_len, and
the machine's 1-minute load average as each run started (on a shared machine, other processes
slow either arm).

    python benchmarks/training_packing.py [--steps 20] [--batch 4] [--max-len 1024 512]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _skewed_dataset(out: Path, n: int, seed: int) -> None:
    """Chat JSONL where 80% of answers are short and 20% carry long contexts."""
    rng = random.Random(seed)
    words = ["price", "warranty", "model", "code", "returns", "filter", "valve", "panel", "plan"]
    lines = []
    for i in range(n):
        long = rng.random() < 0.2
        context = " ".join(
            rng.choice(words) for _ in range(rng.randint(300, 600) if long else rng.randint(20, 60))
        )
        lines.append(
            json.dumps(
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": f"{context}\n\nQuestion {i}: what is the price?",
                        },
                        {"role": "assistant", "content": f"${rng.randint(10, 999)}.00 [1]"},
                    ]
                }
            )
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.jsonl").write_text("\n".join(lines) + "\n")


def _run_one(
    model_dir: str, dataset: str, packing: bool, steps: int, batch: int, max_len: int
) -> dict:
    """Train in this process; report tokens/s (real tokens, padding excluded) and peak RSS."""
    import torch
    from datasets import Dataset
    from peft import prepare_model_for_kbit_training
    from trl import SFTConfig, SFTTrainer

    from services.trainer.packed_attention import select_attention
    from shared.chat_data import iter_chat_jsonl, to_prompt_completion
    from shared.modeling import DeviceProfile, load_base_model, load_tokenizer, lora_config

    torch.manual_seed(0)
    profile = DeviceProfile("cpu", bf16=False)
    tokenizer = load_tokenizer(model_dir)
    rows = [to_prompt_completion(m) for m in iter_chat_jsonl(Path(dataset) / "train.jsonl")]
    model = prepare_model_for_kbit_training(
        load_base_model(
            model_dir,
            quantization="4bit",
            profile=profile,
            attn_implementation=select_attention(packing, profile),
        ),
        use_gradient_checkpointing=False,
    )
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            per_device_train_batch_size=batch,
            max_steps=steps,
            learning_rate=1e-3,
            use_cpu=True,
            bf16=False,
            report_to=[],
            save_strategy="no",
            logging_steps=steps,
            max_length=max_len,
            packing=packing,
            packing_strategy="bfd",
            completion_only_loss=True,
            include_num_input_tokens_seen="non_padding",
            disable_tqdm=True,
            seed=0,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=lora_config(16, 32, 0.0),
        )
        for parameter in trainer.model.parameters():
            if parameter.requires_grad:
                parameter.data = parameter.data.float()
        load = os.getloadavg()[0]  # other processes on the machine skew both arms
        started = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - started
    tokens = trainer.state.num_input_tokens_seen
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "packing": packing,
        "attention": model.config._attn_implementation,
        "tokens": tokens,
        "seconds": elapsed,
        "tokens_per_s": tokens / elapsed,
        "peak_rss_mib": peak_kib / 1024,
        "load": load,
    }


def _run_child(model_dir: str, dataset: Path, packing: bool, max_len: int, args: Any) -> dict:
    """One configuration in its own process, so that peak memory is its own."""
    command = [sys.executable, __file__, "--batch", str(args.batch), "--max-len", str(max_len)]
    command += ["--_child", model_dir, str(dataset), "1" if packing else "0", str(args.steps)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _print_comparison(max_len: int, args: Any, padding: dict, packing: dict) -> None:
    print(f"\nmax_len {max_len}, batch {args.batch}, {args.steps} steps")
    print(
        f"{'configuration':<32}{'attention':>13}{'tokens':>10}{'seconds':>10}"
        f"{'tokens/s':>12}{'peak MiB':>11}{'load':>7}"
    )
    for name, r in (
        ("TRL SFTTrainer, pad to longest", padding),
        ("recipe, padding-free packing", packing),
    ):
        print(
            f"{name:<32}{r['attention']:>13}{r['tokens']:>10}{r['seconds']:>10.1f}"
            f"{r['tokens_per_s']:>12.1f}{r['peak_rss_mib']:>11.0f}{r['load']:>7.1f}"
        )
    speed = packing["tokens_per_s"] / padding["tokens_per_s"]
    memory = packing["peak_rss_mib"] / padding["peak_rss_mib"]
    print(f"tokens/s ratio (packing / padding): {speed:.2f}x   peak memory ratio: {memory:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a tiny model folder (built when absent)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument(
        "--max-len",
        type=int,
        nargs="+",
        default=[1024],
        help="max_length (packed row length); several are compared one after another",
    )
    parser.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        model, dataset, packing, steps = args._child
        result = _run_one(model, dataset, packing == "1", int(steps), args.batch, args.max_len[0])
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from finerag.cli.model import build_from_sample
            from finerag.tiny_model import TinyModelSpec

            model_dir = str(build_from_sample(Path(tmp) / "tiny", TinyModelSpec()))
        dataset = Path(tmp) / "data"
        _skewed_dataset(dataset, args.examples, seed=0)
        for max_len in args.max_len:
            padding = _run_child(model_dir, dataset, False, max_len, args)
            packing = _run_child(model_dir, dataset, True, max_len, args)
            _print_comparison(max_len, args, padding, packing)


if __name__ == "__main__":
    main()
