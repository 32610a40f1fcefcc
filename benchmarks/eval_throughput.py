"""The demo's evaluation through the generation engine vs a per-case `model.generate` loop.

Reads the prompts a finished `finerag demo` evaluated (`OUT/evaluation/cases.jsonl`: the base
and the fine-tuned model, without and with RAG, questions and paraphrases), takes every
generation of every `--every`-th question (so each run of the matrix is represented, and what
a question's prompts share is there as in the evaluation), and generates their
answers twice on the same model, adapter and precision as the demo:
  - loop: one case at a time, `model.generate` greedy, switching the adapter per case as needed;
  - engine: all of them submitted at once to `shared.models.generation.Engine` (what the in-process
    evaluation and the gateway use), batched by prompt length with the base and the fine-tuned
    model in one batch, rows refilled as answers finish (continuous batching);
  - static: the same engine with each batch kept to the requests it opened with;
  - unmerged: the engine running the adapter as PEFT's side branches, not merged into the base
    weights (what `merge_adapters` saves on an unquantized base);
  - separate: the engine with each batch of one model (no batches of several models, so the base
    and the fine-tuned model share no layers of a prompt: what `mixed_batches` saves).
Prints generations/s for each, the ratios, and how many answers are identical.

    finerag demo --out /tmp/demo
    python benchmarks/eval_throughput.py --demo /tmp/demo [--every 4] [--batch-size 16]
        [--arms loop engine static unmerged separate]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _records(demo: Path, every: int) -> list[dict[str, Any]]:
    path = demo / "evaluation" / "cases.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} not found: run `finerag demo --out {demo}` first")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # Every generation of every N-th question (its variants, both models, both modes, its
    # injection case): the run's mix, and what its prompts share, as the evaluation has them.
    cases = set(sorted({row["case_id"] for row in rows})[::every])
    return [row for row in rows if row["case_id"] in cases]


def _key(name: str) -> str:
    """A PEFT adapter name for a registry name (no dots or colons)."""
    return name.replace(":", "_").replace(".", "_")


def _loop(
    base: str, models_dir: Path, records: list[dict[str, Any]], max_tokens: int
) -> tuple[list[str], float]:
    """The per-case loop: batch size 1, HF generate, the adapter switched on when needed."""
    import torch
    from peft import PeftModel

    from shared.infrastructure.registry import model_dir
    from shared.models.chat_encoding import encode_chat
    from shared.models.loading import end_token_ids, load_base_model, load_tokenizer

    tokenizer = load_tokenizer(base)
    eos = sorted(end_token_ids(tokenizer))
    model: Any = load_base_model(base).eval()
    adapters = sorted({r["model"] for r in records if r["model"] != base})
    for name in adapters:
        path = str(model_dir(models_dir, name))
        if isinstance(model, PeftModel):
            model.load_adapter(path, adapter_name=_key(name))
        else:
            model = PeftModel.from_pretrained(model, path, adapter_name=_key(name)).eval()
    answers = []
    started = time.perf_counter()
    for record in records:
        # The token ids the engine is given: message text stays plain text (encode_chat).
        prompt = encode_chat(tokenizer, record["messages"], add_generation_prompt=True)
        ids = {"input_ids": torch.tensor([prompt]), "attention_mask": torch.ones(1, len(prompt))}
        generate = {"max_new_tokens": max_tokens, "do_sample": False, "eos_token_id": eos,
                    "pad_token_id": tokenizer.pad_token_id}  # fmt: skip
        adapter_off: Any = contextlib.nullcontext()
        if isinstance(model, PeftModel):
            if record["model"] == base:
                adapter_off = model.disable_adapter()
            else:
                model.set_adapter(_key(record["model"]))
        with torch.inference_mode(), adapter_off:
            out = model.generate(**ids, **generate)
        new = out[0, ids["input_ids"].shape[1] :].tolist()
        cut = next((i for i, t in enumerate(new) if t in eos), len(new))
        text = tokenizer.decode(
            new[:cut], skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        answers.append(str(text))
    return answers, time.perf_counter() - started


def _engine(
    base: str,
    models_dir: Path,
    records: list[dict[str, Any]],
    max_tokens: int,
    batch_size: int,
    arm: str,
) -> tuple[list[str], float]:
    """All cases at once through the engine, as `LocalChatClient` submits an evaluation run."""
    from services.evaluation.chat_clients import ChatRequest, LocalChatClient

    client = LocalChatClient(
        base,
        models_dir=models_dir,
        batch_size=batch_size,
        continuous_batching=arm != "static",
        merge_adapters=arm != "unmerged",
        mixed_batches=arm != "separate",
    )
    try:
        requests = [ChatRequest(r["model"], r["messages"], max_tokens) for r in records]
        started = time.perf_counter()
        results = client.complete(requests)
        return [result.text for result in results], time.perf_counter() - started
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, required=True, help="a finished demo's --out folder")
    parser.add_argument("--every", type=int, default=4, help="take every N-th question")
    parser.add_argument("--batch-size", type=int, default=16, help="the engine's batch")
    parser.add_argument(
        "--arms",
        nargs="+",
        choices=("loop", "engine", "static", "unmerged", "separate"),
        default=["loop", "engine", "static"],
        help="what to run, in order; ratios are against the first",
    )
    args = parser.parse_args()

    from finerag.pipeline import DEMO_MAX_TOKENS, demo_settings

    demo_json = json.loads((args.demo / "demo.json").read_text())
    base = str(demo_json["base_model"])
    models_dir = demo_settings(args.demo).models_dir
    records = _records(args.demo, args.every)
    runs = sorted({r["run"] for r in records})
    print(f"{len(records)} generations ({', '.join(runs)}), max_tokens {DEMO_MAX_TOKENS}")

    timings: dict[str, float] = {}
    answers: dict[str, list[str]] = {}
    for arm in args.arms:
        if arm == "loop":
            answers[arm], timings[arm] = _loop(base, models_dir, records, DEMO_MAX_TOKENS)
        else:
            answers[arm], timings[arm] = _engine(
                base, models_dir, records, DEMO_MAX_TOKENS, args.batch_size, arm
            )
        print(f"  {arm:7} {timings[arm]:7.1f} s  {len(records) / timings[arm]:6.2f} generations/s",
              flush=True)  # fmt: skip
    reference = args.arms[0]
    for arm in args.arms[1:]:
        same = sum(a == b for a, b in zip(answers[reference], answers[arm], strict=True))
        print(f"{arm} / {reference}: {timings[reference] / timings[arm]:.2f}x generations/s "
              f"(model loading not timed); identical answers {same}/{len(records)}")  # fmt: skip
    if "loop" not in answers or "engine" not in answers:
        return
    for a, b, record in zip(answers["loop"], answers["engine"], records, strict=True):
        if a != b:
            print(f"  differs [{record['run']} {record['case_id']}]:\n    loop:   {a!r}\n"
                  f"    engine: {b!r}")  # fmt: skip


if __name__ == "__main__":
    main()
