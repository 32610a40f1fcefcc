"""`finerag demo`: the pipeline end to end on the embedded default, printing what it did."""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path
from typing import Any

from finerag.pipeline import DEMO_BASES, DEMO_CASES
from shared.infrastructure.settings import get_settings


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def register(subparsers: Any) -> None:
    """Add `finerag demo`."""
    demo = subparsers.add_parser(
        "demo",
        help="run the pipeline end to end on the sample domain (no Docker, no servers)",
        description="Generate the sample domain, ingest it, build the grounded dataset, fine-tune "
        "SmolLM2-135M-Instruct with QLoRA, evaluate base vs fine-tuned without and with RAG, "
        "apply the release gate, and repeat the RAG comparison on a knowledge base the model "
        "never trained on. Each step prints its time.",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the demo writes its files (default: FINERAG_DATA_DIR/demo)",
    )
    demo.add_argument(
        "--base",
        choices=sorted(DEMO_BASES),
        default="smollm2",
        help="smollm2 (default): a real instruct model that reads; tiny: the random tiny Llama, "
        "a fast run of the mechanics whose answers mean nothing",
    )
    demo.add_argument(
        "--train-steps",
        type=_positive,
        default=None,
        help="QLoRA steps (default: the base's config; 80 steps of 4 examples for smollm2)",
    )
    demo.add_argument(
        "--cases",
        type=_positive,
        default=DEMO_CASES,
        help="held-out questions to evaluate, spread over the question types (default: every "
        "question of the validation split, 98 on the sample domain; fewer runs faster, with "
        "wider intervals)",
    )
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from finerag.pipeline import run_demo

    out: Path = args.out or get_settings().data_dir / "demo"
    started = time.monotonic()
    report = functools.partial(print, flush=True)  # each line as it happens, piped or not
    run_demo(out, report=report, base=args.base, train_steps=args.train_steps, cases=args.cases)
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s; files under {out}")
    return 0
