"""Recipe (padding-free packing) vs a plain TRL SFTTrainer (padding to the longest), one run.

Same tiny model, same 4-bit base, same LoRA, same precision, batch size and steps, on the same
length-skewed dataset (most examples short, a few long: the shape of real grounded data). Each
loads its attention as the recipe would: the baseline transformers' default `sdpa`, the packed
run `select_attention()`'s choice (`packed_sdpa` on a CPU: causal attention per example, no
block-diagonal mask). Prints tokens/s and peak memory of each and their ratio, per max_len, and
the machine's 1-minute load average as each run started (on a shared machine, other processes
slow either arm).

    python benchmarks/training_packing.py [--steps 20] [--batch 4] [--max-len 1024 512]

`--bare --model DIR` (a folder from `finerag model smollm2`) compares instead the recipe itself
(`QLoRARecipe`, its trainer's `train()`) with a bare PyTorch + PEFT loop on the same model, LoRA,
precision and packed batches of the demo's grounded dataset: the loop runs the recipe's own
completion loss, backward, gradient clipping, AdamW and learning-rate schedule and nothing else
(no callbacks, logging, metrics or checkpoints). Prints tokens/s, peak memory per token and the
recipe/bare ratios.

    python benchmarks/training_packing.py --bare --model /tmp/smollm2 [--steps 12]
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
    from services.trainer.recipe import prepare_data
    from shared.models.loading import DeviceProfile, load_base_model, load_tokenizer, lora_config

    torch.manual_seed(0)
    profile = DeviceProfile("cpu", bf16=False)
    tokenizer = load_tokenizer(model_dir)
    rows = prepare_data(Path(dataset), tokenizer, max_len).train  # the recipe's tokenized rows
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


def _run_recipe_or_bare(model_dir: str, dataset: str, bare: bool, steps: int) -> dict:
    """The SmolLM2 recipe for `steps` updates, through its trainer or through a bare loop over
    the trainer's own batches, model and optimizer settings."""
    import torch

    from services.trainer.completion_loss import completion_loss
    from services.trainer.config import CONFIGS_DIR, load_config
    from services.trainer.recipe import QLoRARecipe
    from shared.infrastructure.settings import Settings

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as out:
        overrides = {"base_model": model_dir, "dataset": dataset, "name": "bench",
                     "max_steps": steps, "logging_steps": 1}  # fmt: skip
        config = load_config(CONFIGS_DIR / "smollm2_135m_qlora.yaml", overrides)
        recipe = QLoRARecipe(config, Settings(data_dir=Path(out)), report=lambda _line: None)
        recipe.setup()
        trainer: Any = recipe.trainer
        load = os.getloadavg()[0]
        if not bare:
            # Timed from the first step to the end of the last: the validation-loss pass that
            # follows is not training (the bare loop has none).
            from transformers import TrainerCallback

            marks: list[float] = []

            class StepClock(TrainerCallback):  # type: ignore[misc]
                def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
                    marks.append(time.perf_counter())

                def on_step_end(self, *args: Any, **kwargs: Any) -> None:
                    marks.append(time.perf_counter())

            trainer.add_callback(StepClock())
            trainer.train()
            elapsed = marks[-1] - marks[0]
            tokens = int(trainer.state.num_input_tokens_seen)
        else:
            model = trainer.model
            model.train()
            trainer.create_optimizer_and_scheduler(num_training_steps=steps)
            optimizer, scheduler = trainer.optimizer, trainer.lr_scheduler
            trainable = [p for p in model.parameters() if p.requires_grad]
            batches = iter(trainer.get_train_dataloader())
            tokens, started = 0, time.perf_counter()
            for _ in range(steps):
                batch = {k: v for k, v in next(batches).items() if isinstance(v, torch.Tensor)}
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=trainer.args.bf16):
                    loss, _stats, _outputs = completion_loss(model, batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                tokens += int(batch["input_ids"].numel())
            elapsed = time.perf_counter() - started
        recipe.cleanup()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"tokens": tokens, "seconds": elapsed, "tokens_per_s": tokens / elapsed,
            "peak_rss_mib": peak_kib / 1024, "load": load}  # fmt: skip


def _compare_recipe_and_bare(args: Any) -> None:
    from finerag.pipeline import demo_dataset

    with tempfile.TemporaryDirectory() as tmp:
        dataset = demo_dataset(Path(tmp), Path(args.model))
        results = {}
        for arm in ("recipe", "bare"):
            command = [sys.executable, __file__, "--_bare_child", args.model, str(dataset), arm,
                       str(args.steps)]  # fmt: skip
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[arm] = json.loads(output.strip().splitlines()[-1])
    print(f"\nSmolLM2 recipe, {args.steps} steps on the demo's grounded dataset")
    print(f"{'configuration':<34}{'tokens':>9}{'seconds':>10}{'tokens/s':>11}"
          f"{'peak MiB':>10}{'KiB/token':>11}{'load':>7}")  # fmt: skip
    for name, r in (("recipe (QLoRARecipe, trainer.train)", results["recipe"]),
                    ("bare PyTorch + PEFT loop", results["bare"])):  # fmt: skip
        per_token = r["peak_rss_mib"] * 1024 / r["tokens"]
        print(f"{name:<34}{r['tokens']:>9}{r['seconds']:>10.1f}{r['tokens_per_s']:>11.1f}"
              f"{r['peak_rss_mib']:>10.0f}{per_token:>11.1f}{r['load']:>7.1f}")  # fmt: skip
    speed = results["recipe"]["tokens_per_s"] / results["bare"]["tokens_per_s"]
    memory = results["recipe"]["peak_rss_mib"] / results["bare"]["peak_rss_mib"]
    print(f"recipe / bare: {speed:.2f}x the tokens/s, {memory:.2f}x the peak memory")


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
    parser.add_argument("--bare", action="store_true", help="recipe vs a bare loop (--model)")
    parser.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--_bare_child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._bare_child:
        model, dataset, arm, steps = args._bare_child
        print(json.dumps(_run_recipe_or_bare(model, dataset, arm == "bare", int(steps))))
        return
    if args.bare:
        if not args.model:
            parser.error("--bare needs --model (a folder from `finerag model smollm2`)")
        _compare_recipe_and_bare(args)
        return
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
