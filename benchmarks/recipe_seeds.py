"""Is the demo's gain a property of the recipe or of one lucky seed? Two recipe arms, many seeds.

The demo trains SmolLM2-135M once, with the config's seed, and the quality tests assert on that
one run. A single run says little about a recipe that sees a few hundred examples: which examples
it sees, in what order, and the LoRA initialisation all follow the seed. This script trains the
demo's adapter under each seed for two arms (the shipped config, and the same with `--b`
overrides), evaluates each adapter as the demo does on its held-out questions (with RAG, as
written: no paraphrases, no injection suite), and prints per seed the base and fine-tuned
accuracy, the paired gain with its 95% interval and the hallucination rate; then per arm the
mean and the worst gain, the seeds whose interval is clear of 0, and the arms' training-time
ratio.

It reuses a demo's folder (`finerag demo --out DIR`: the sample domain, the converted base model,
the grounded dataset and the knowledge base), so only training and evaluation are timed.

    finerag demo --out /tmp/demo
    python -m benchmarks.recipe_seeds --demo /tmp/demo --seeds 1 2 3 --a max_steps=40 \
        --b max_steps=80

Measured on the development machine: the table in docs/evaluation.md ("One run is not a recipe").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class Outcome:
    """One trained adapter's evaluation."""

    arm: str
    seed: int
    base: float
    tuned: float
    gain: float
    ci_low: float
    ci_high: float
    hallucination: float
    train_s: float


def config_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs as config overrides (ints and floats parsed, else strings)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        out[key] = value
    return out


def run_arm(demo: Path, arm: str, overrides: dict[str, Any], seed: int) -> Outcome:
    """Train the demo's adapter with `overrides` under `seed`; evaluate it as the demo does."""
    from finerag.embedded import InProcessRetrieval
    from finerag.pipeline import DEMO_BASES, demo_settings, evaluate_demo
    from services.trainer.config import CONFIGS_DIR, load_config
    from services.trainer.recipe import QLoRARecipe

    summary = json.loads((demo / "demo.json").read_text())
    model_dir, dataset = Path(summary["base_model"]), Path(summary["dataset"])
    name = f"seeds-{arm}-{seed}"
    config = load_config(
        CONFIGS_DIR / DEMO_BASES["smollm2"].config,
        {"base_model": str(model_dir), "dataset": str(dataset), "name": name, "seed": seed,
         **overrides},
    )  # fmt: skip
    settings = demo_settings(demo)
    started = time.perf_counter()
    QLoRARecipe(config, settings, report=lambda _line: None).run()
    train_s = time.perf_counter() - started
    with InProcessRetrieval.open(settings) as retrieval:
        evaluation, _verdict = evaluate_demo(
            settings, retrieval, "acme", demo / "sample" / "qa.jsonl", model_dir, dataset, name,
            demo / f"evaluation-{name}", modes=("rag",), variants=False, injection=False,
        )  # fmt: skip
    report = evaluation.report
    gain = report.gain("accuracy.correct", "rag")
    return Outcome(
        arm, seed,
        report.stat("accuracy.correct", "base", "rag").value,
        report.stat("accuracy.correct", "fine_tuned", "rag").value,
        gain.value, gain.ci_low, gain.ci_high,
        report.stat("hallucination.hallucination_rate", "fine_tuned", "rag").value,
        train_s,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", type=Path, required=True, help="a `finerag demo --out` folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--a", nargs="*", default=[], help="arm A's overrides (key=value)")
    parser.add_argument("--b", nargs="*", default=["max_steps=80"], help="arm B's overrides")
    args = parser.parse_args()

    arms = {"A": config_overrides(args.a), "B": config_overrides(args.b)}
    outcomes: list[Outcome] = []
    print(f"arms: A {arms['A'] or 'as shipped'}, B {arms['B']}; seeds {args.seeds}")
    print("arm  seed   base  tuned    gain [95% paired]   halluc  train s")
    for seed in args.seeds:
        for arm, overrides in arms.items():
            o = run_arm(args.demo, arm, overrides, seed)
            outcomes.append(o)
            print(
                f"{arm:>3} {seed:>5}  {o.base:5.2f}  {o.tuned:5.2f}   {o.gain:+5.2f} "
                f"[{o.ci_low:+5.2f},{o.ci_high:+5.2f}]   {o.hallucination:5.2f}  {o.train_s:7.0f}",
                flush=True,
            )
    train = {}
    for arm in arms:
        mine = [o for o in outcomes if o.arm == arm]
        clear = sum(o.ci_low > 0 for o in mine)
        train[arm] = sum(o.train_s for o in mine)
        print(
            f"arm {arm}: gain mean {statistics.mean(o.gain for o in mine):+.3f}, worst "
            f"{min(o.gain for o in mine):+.3f}; interval clear of 0 in {clear}/{len(mine)} seeds"
        )
    print(f"training time B/A: {train['B'] / train['A']:.2f}x")


if __name__ == "__main__":
    main()
