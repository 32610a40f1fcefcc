"""`finerag demo`: the pipeline end to end on the embedded default, printing what it did."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from shared.settings import get_settings


def register(subparsers: Any) -> None:
    """Add `finerag demo`."""
    demo = subparsers.add_parser(
        "demo",
        help="run the pipeline end to end on the sample domain (no Docker, no servers)",
        description="Generate the sample domain, build the tiny model, load it the production "
        "way (4-bit NF4 + LoRA) and answer a question with the grounded prompt.",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the demo writes its files (default: FINERAG_DATA_DIR/demo)",
    )
    demo.add_argument(
        "--train-steps", type=int, default=40, help="QLoRA steps on the tiny model (default 40)"
    )
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from finerag.pipeline import run_demo

    out: Path = args.out or get_settings().data_dir / "demo"
    started = time.monotonic()
    run_demo(out, report=print, train_steps=args.train_steps)
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s; files under {out}")
    return 0
