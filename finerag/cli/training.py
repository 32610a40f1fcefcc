"""Training commands: `dataset build|inspect`, `train`, `export`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from shared.infrastructure.settings import get_settings


def register(subparsers: Any) -> None:
    """Add `dataset`, `train` and `export`."""
    dataset = subparsers.add_parser("dataset", help="build or inspect a fine-tuning dataset")
    actions = dataset.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)

    build = actions.add_parser(
        "build",
        help="Q&A / chat / Alpaca files → train.jsonl, validation.jsonl, card.json",
        description="Build a versioned chat-JSONL dataset. With --kb each question is grounded "
        "in retrieved sources with the same prompt template the gateway serves with.",
    )
    build.add_argument(
        "--qa", type=Path, action="append", default=[], help="evaluation-format JSONL"
    )
    build.add_argument("--chat", type=Path, action="append", default=[], help="OpenAI chat JSONL")
    build.add_argument("--alpaca", type=Path, action="append", default=[], help="Alpaca JSON/JSONL")
    build.add_argument("--kb", default=None, help="knowledge base for grounded examples")
    build.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    build.add_argument("--top-k", type=int, default=4, help="sources per question (default 4)")
    build.add_argument(
        "--unanswerable-ratio",
        type=float,
        default=0.2,
        help="abstention examples per answerable question (default 0.2)",
    )
    build.add_argument(
        "--val-ratio", type=float, default=0.1, help="validation share (default 0.1)"
    )
    build.add_argument("--max-seq-len", type=int, default=2048, help="drop longer examples")
    build.add_argument(
        "--tokenizer", default=None, help="tokenizer for lengths (default: FINERAG_BASE_MODEL)"
    )
    build.add_argument("--seed", type=int, default=7)
    build.add_argument(
        "--agent-subtasks",
        action="store_true",
        help="also train the agents' steps (decompose a multi-hop question, extract a "
        "calculation's values with their citations) for the cases that carry them",
    )
    build.add_argument(
        "--agent-subtask-variants",
        action="store_true",
        help="with --agent-subtasks: each step also asked as the case's self-contained "
        "variants (typo, paraphrase, terse), as customers ask the agents",
    )
    build.add_argument(
        "--agent-subtask-orders",
        type=int,
        default=1,
        help="with --agent-subtasks: each extraction also over its sources rotated, up to N "
        "orders (one per source at most), so values are cited from every position",
    )
    build.set_defaults(func=_dataset_build)

    inspect = actions.add_parser(
        "inspect", help="print examples token by token with their labels (trained or masked)"
    )
    inspect.add_argument("dir", type=Path, help="a dataset folder")
    inspect.add_argument("--n", type=int, default=3, help="examples to show (default 3)")
    inspect.add_argument("--split", choices=("train", "validation"), default="train")
    inspect.add_argument("--tokenizer", default=None, help="default: FINERAG_BASE_MODEL")
    inspect.set_defaults(func=_dataset_inspect)

    train = subparsers.add_parser(
        "train",
        help="fine-tune with the QLoRA recipe",
        description="finerag train --config services/trainer/configs/tiny_qlora.yaml "
        "base_model=DIR dataset=DIR name=NAME max_steps=40",
    )
    train.add_argument("--config", type=Path, required=True, help="a recipe YAML")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    train.set_defaults(func=_train)

    export = subparsers.add_parser("export", help="write a registry model as a merged model")
    export.add_argument("name", help="registry name")
    export.add_argument(
        "--merge",
        action="store_true",
        required=True,
        help="merge the adapter into full-precision base weights",
    )
    export.add_argument("--out", type=Path, required=True, help="folder to write")
    export.set_defaults(func=_export)


def _token_counter(tokenizer_name: str) -> Any:
    from shared.models.chat_encoding import count_chat_tokens
    from shared.models.loading import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_name)
    return lambda messages: count_chat_tokens(tokenizer, messages)


def _dataset_build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from finerag.cli.knowledge import open_retrieval
    from services.trainer.datasets.build import DatasetOptions, build_dataset

    settings = get_settings()
    tokenizer_name = args.tokenizer or settings.base_model
    options = DatasetOptions(
        kb=args.kb,
        top_k=args.top_k,
        unanswerable_ratio=args.unanswerable_ratio,
        val_ratio=args.val_ratio,
        max_seq_len=args.max_seq_len,
        seed=args.seed,
        agent_subtasks=args.agent_subtasks,
        agent_subtask_variants=args.agent_subtask_variants,
        agent_subtask_orders=args.agent_subtask_orders,
    )

    def run(retrieval: Any) -> Any:
        return build_dataset(
            args.out,
            qa_files=args.qa,
            chat_files=args.chat,
            alpaca_files=args.alpaca,
            retrieval=retrieval,
            count_tokens=_token_counter(tokenizer_name),
            tokenizer_name=tokenizer_name,
            options=options,
            progress=lambda items: tqdm(list(items), desc="questions (x16)", unit="batch"),
        )

    if args.kb:
        with open_retrieval(settings) as retrieval:
            report = run(retrieval)
    else:
        report = run(None)
    card = report.card
    print(f"dataset {card['version']} written to {report.out_dir}")
    print(f"  train {card['counts']['train']}, validation {card['counts']['validation']}")
    print(f"  by kind: {json.dumps(card['counts']['by_kind'])}")
    print(f"  dropped: {json.dumps(card['dropped'])}")
    print(f"  token lengths: {json.dumps(card['token_lengths'])}")
    return 0


def _dataset_inspect(args: argparse.Namespace) -> int:
    from services.trainer.labels import render_labelled_examples

    tokenizer_name = args.tokenizer or get_settings().base_model
    print(render_labelled_examples(args.dir / f"{args.split}.jsonl", tokenizer_name, args.n))
    return 0


def _train(args: argparse.Namespace) -> int:
    from services.trainer.config import load_config, parse_overrides
    from services.trainer.recipe import QLoRARecipe
    from shared.infrastructure.logs import configure_logging

    configure_logging("INFO", "text")
    config = load_config(args.config, parse_overrides(args.overrides))
    settings = get_settings()

    def show(event: dict[str, Any]) -> None:
        if "eval_loss" in event:
            print(f"  step {event['step']}: eval loss {event['eval_loss']:.4f}")

    metrics, path = QLoRARecipe(config, settings, on_event=show).run()
    print(f"fine-tuned model {config.name!r} written to {path}")
    print(json.dumps({k: metrics[k] for k in sorted(metrics)}, indent=2))
    return 0


def _export(args: argparse.Namespace) -> int:
    from services.trainer.export import export_merged

    path = export_merged(get_settings(), args.name, args.out)
    print(f"merged model written to {path}")
    return 0
