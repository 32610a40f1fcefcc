"""Agents against single-shot RAG on a FINE-TUNED adapter, on reasoning questions it never saw.

Reuses a demo folder (`finerag demo --out DIR`: the sample domain, the converted base model, the
registry under `state/models`). With `--train` it builds a grounded dataset as the demo does
(`demo_dataset_options`), with the agents' own sub-tasks when `--subtasks` is given, from every
question of the sample domain EXCEPT the held-out reasoning questions, and trains the demo's
recipe on it into the registry under `--name`. Then it starts the real retrieval service (the
knowledge base ingested as the demo ingests it: 128-token chunks) and a gateway (gunicorn)
serving the demo's base with the registry, and runs

    finerag eval --model NAME --agents research,calculate --endpoint GATEWAY ...

on the held-out multi-hop and arithmetic questions (with `--variant-kinds`), so every model step
of the agents goes through the gateway's own API as served.

The held-out reasoning questions: the demo dataset's validation split's multi-hop and arithmetic
questions (`--holdout demo`), plus, with `--holdout extended`, a seeded half of the other
reasoning questions (the split is written to OUT/holdout.json). The demo's own adapter trained
on the extra half, so evaluate it with `--holdout demo`.

The calculate agent's extract step can be given more practice: `--extract-orders N` asks each
extraction over its sources in up to N orders, and `--drills N` adds up to N arithmetic drills
per pattern (`finerag.sample_domain.generator.drill_records`: the question set's patterns over
other products and plans) that read no page a held-out arithmetic question reads, the shared
shipping and warranty pages aside (`allowed_drills`).

    cp -r /tmp/demo2 /tmp/agents-demo
    python -m benchmarks.agent_finetuned --demo /tmp/agents-demo --train --subtasks variants \
        --name acme-agents --holdout extended --out /tmp/agents-demo/eval-acme-agents
    python -m benchmarks.agent_finetuned --demo /tmp/agents-demo --name acme-smollm2 \
        --holdout demo --out /tmp/agents-demo/eval-acme-smollm2

The report (report.md, report.json, agents.jsonl with every step) lands in --out; the agents'
table is printed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.agent_accuracy import evaluate_through_gateway
from benchmarks.recipe_seeds import config_overrides

KB = "acme"
REASONING = ("multi_hop", "arithmetic")


def holdout_ids(demo: Path, mode: str, seed: int) -> set[str]:
    """The reasoning questions never trained on: the demo's validation ones, and with
    `extended` a seeded half of the rest of each reasoning type."""
    from services.evaluation import read_cases, validation_case_ids

    cases = [c for c in read_cases(demo / "sample" / "qa.jsonl") if c.type in REASONING]
    held = {c.id for c in cases} & validation_case_ids(demo / "dataset")
    if mode == "extended":
        rng = random.Random(seed)
        for type_ in REASONING:
            rest = sorted(c.id for c in cases if c.type == type_ and c.id not in held)
            held |= set(rng.sample(rest, k=len(rest) // 2))
    return held


def allowed_drills(qa: Path, held: set[str], per_pattern: int, seed: int) -> list[dict[str, Any]]:
    """Up to `per_pattern` arithmetic drills of each pattern (`drill_records`) that read no
    page a held-out arithmetic question reads (the pages every question of a pattern shares
    aside: `SHARED_PAGES`), and that are worded as no held-out question or its variants: the
    adapter never practises on a held-out product or plan, nor sees a held-out question."""
    from finerag.sample_domain.generator import drill_records
    from finerag.sample_domain.reasoning import SHARED_PAGES

    cases = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines() if line]
    held_cases = [c for c in cases if c["id"] in held]
    held_pages = {d for c in held_cases if c["type"] == "arithmetic" for d in c["source_ids"]}
    held_pages -= set(SHARED_PAGES)
    held_forms = {_form(q) for c in held_cases for q in _questions(c)}
    rng = random.Random(seed)
    by_pattern: dict[str, list[dict[str, Any]]] = {}
    for drill in drill_records():
        reads_held_page = bool(held_pages & set(drill["source_ids"]))
        if reads_held_page or held_forms & {_form(q) for q in _questions(drill)}:
            continue
        by_pattern.setdefault(drill["id"].rsplit("-", 1)[0], []).append(drill)
    pools = by_pattern.values()
    return [d for pool in pools for d in rng.sample(pool, min(per_pattern, len(pool)))]


def _questions(record: dict[str, Any]) -> list[str]:
    return [record["question"], *(str(v.get("question", "")) for v in record["variants"])]


def _form(question: str) -> str:
    return " ".join(question.lower().split())


def write_qa(source: Path, out: Path, keep: Any) -> int:
    """The lines of `source` whose case id passes `keep`; returns how many."""
    lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if keep(json.loads(line)["id"])]
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return len(kept)


def train(
    demo: Path,
    name: str,
    train_qa: Path,
    subtasks: str,
    overrides: dict[str, Any],
    val_ratio: float | None = None,
    extract_orders: int = 1,
) -> Path:
    """Build the demo's grounded dataset from `train_qa` and train the demo's recipe on it."""
    from dataclasses import replace

    from finerag.embedded import InProcessRetrieval
    from finerag.pipeline import (
        DEMO_BASES,
        build_grounded_dataset,
        demo_dataset_options,
        demo_settings,
    )
    from services.trainer.config import CONFIGS_DIR, load_config
    from services.trainer.recipe import QLoRARecipe

    model_dir = demo / "models" / "smollm2-135m-instruct"
    dataset = demo / "datasets" / name
    config = load_config(
        CONFIGS_DIR / DEMO_BASES["smollm2"].config,
        {"base_model": str(model_dir), "dataset": str(dataset), "name": name, **overrides},
    )
    settings = demo_settings(demo)
    options = replace(
        demo_dataset_options(KB, config.max_length),
        agent_subtasks=subtasks != "none",
        agent_subtask_variants=subtasks == "variants",
        agent_subtask_orders=extract_orders,
    )
    if val_ratio is not None:  # the held-out questions are the evaluation; this is the loss's
        options = replace(options, val_ratio=val_ratio)
    with InProcessRetrieval.open(settings) as retrieval:
        card = build_grounded_dataset(retrieval, train_qa, model_dir, dataset, options)
    print(
        f"dataset {card['version']}: {json.dumps(card['counts'])}, dropped {card['dropped']}",
        flush=True,
    )
    started = time.perf_counter()
    metrics, registry_dir = QLoRARecipe(config, settings, report=lambda _line: None).run()
    print(
        f"trained {name} in {time.perf_counter() - started:.0f} s "
        f"(train loss {metrics.get('train_loss')}): {registry_dir}",
        flush=True,
    )
    return registry_dir


def ingest(url: str, demo: Path) -> int:
    """The sample domain's knowledge base into the retrieval service, chunked as the demo does."""
    from finerag.pipeline import demo_settings, ingest_folder
    from shared.infrastructure.retrieval_client import HttpRetrievalClient

    with HttpRetrievalClient(url, timeout_s=600) as client:
        return ingest_folder(client, demo_settings(demo), KB, demo / "sample" / "kb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, required=True, help="a copy of a demo folder")
    parser.add_argument("--name", required=True, help="the registry adapter to evaluate")
    parser.add_argument("--train", action="store_true", help="train --name first")
    parser.add_argument(
        "--subtasks",
        choices=("none", "question", "variants"),
        default="none",
        help="train the agents' steps: no, as each question is written, or also as its variants",
    )
    parser.add_argument(
        "--extract-orders",
        type=int,
        default=1,
        help="each extract example also over its sources rotated, up to N orders",
    )
    parser.add_argument(
        "--drills",
        type=int,
        default=0,
        help="train on up to N arithmetic drills per pattern that read no held-out question's "
        "product or plan page (allowed_drills)",
    )
    parser.add_argument("--set", nargs="*", default=[], help="recipe overrides (key=value)")
    parser.add_argument("--val-ratio", type=float, help="the dataset's (default: the demo's)")
    parser.add_argument("--holdout", choices=("demo", "extended"), default="extended")
    parser.add_argument("--holdout-seed", type=int, default=1)
    parser.add_argument("--variant-kinds", default="paraphrase", help="'' for none")
    parser.add_argument("--agents", default="research,calculate")
    parser.add_argument("--types", default="multi_hop,arithmetic", help="question types asked")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--step-max-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    demo, out = args.demo.resolve(), args.out.resolve()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)

    held = holdout_ids(demo, args.holdout, args.holdout_seed)
    qa = demo / "sample" / "qa.jsonl"
    heldout_qa = work / "heldout.jsonl"
    write_qa(qa, heldout_qa, lambda case_id: case_id in held)
    (out / "holdout.json").write_text(json.dumps(sorted(held), indent=1) + "\n")
    print(f"held out {len(held)} reasoning questions ({args.holdout}): {sorted(held)}", flush=True)
    if args.train:
        train_qa = work / "train-qa.jsonl"
        n = write_qa(qa, train_qa, lambda case_id: case_id not in held)
        drills = allowed_drills(qa, held, args.drills, args.holdout_seed) if args.drills else []
        if drills:
            with train_qa.open("a", encoding="utf-8") as lines:
                lines.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in drills)
        print(f"training questions: {n}, arithmetic drills: {len(drills)}", flush=True)
        overrides = config_overrides(args.set)
        train(
            demo, args.name, train_qa, args.subtasks, overrides, args.val_ratio,
            args.extract_orders,
        )  # fmt: skip

    model = str(demo / "models" / "smollm2-135m-instruct")
    gateway = {
        "base_model": model,
        "data_dir": str(demo / "state"),  # the registry the demo and --train publish to
        "agent_step_max_tokens": str(args.step_max_tokens),
        "request_timeout_s": "600",
    }
    variants = ["--variant-kinds", args.variant_kinds] if args.variant_kinds else [
        "--no-variants"]  # fmt: skip
    eval_args = [
        "--model", args.name, "--base", model, "--qa", str(heldout_qa),
        "--agents", args.agents, "--types", args.types, *variants,
        "--no-step-by-step", "--no-injection", "--modes", "rag", "--top-k", "3",
        "--max-tokens", "48", "--concurrency", str(args.concurrency),
    ]  # fmt: skip

    def index(url: str) -> None:
        print(f"ingested {ingest(url, demo)} chunks", flush=True)

    print(evaluate_through_gateway(work, out, index, gateway, eval_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
