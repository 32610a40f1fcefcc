"""`finerag model tiny`: build the tiny Llama used by tests and the demo."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from finerag.pipeline import build_tiny_from_domain
from finerag.sample_domain import generate_sample_domain
from finerag.tiny_model import TinyModelSpec


def register(subparsers: Any) -> None:
    """Add `finerag model ...`."""
    model = subparsers.add_parser("model", help="build or inspect models")
    actions = model.add_subparsers(dest="action", metavar="ACTION", required=True)
    tiny = actions.add_parser(
        "tiny",
        help="build the tiny Llama-architecture model (same code paths as Llama 3.1 8B)",
        description="Build a deterministic tiny LlamaForCausalLM with a BPE tokenizer trained on "
        "the sample domain, the Llama 3 special tokens and Meta's Llama 3.1 chat template.",
    )
    tiny.add_argument("--out", type=Path, required=True, help="folder to write the model to")
    tiny.add_argument("--seed", type=int, default=TinyModelSpec.seed, help="weights seed")
    tiny.add_argument(
        "--pretrain-steps",
        type=int,
        default=TinyModelSpec.pretrain_steps,
        help="next-token steps on the documents (0 = random weights)",
    )
    tiny.add_argument(
        "--sample-dir",
        type=Path,
        default=None,
        help="an existing sample domain (from `finerag sample-domain`); generated when absent",
    )
    tiny.set_defaults(func=_tiny)


def build_from_sample(out: Path, spec: TinyModelSpec, sample_dir: Path | None = None) -> Path:
    """Build the tiny model with the sample domain's documents as its corpus."""
    with tempfile.TemporaryDirectory(prefix="finerag-sample-") as tmp:
        # Generation is deterministic, so regenerating an existing domain rewrites the same files.
        return build_tiny_from_domain(out, generate_sample_domain(sample_dir or Path(tmp)), spec)


def _tiny(args: argparse.Namespace) -> int:
    from shared.logs import configure_logging

    configure_logging("INFO", "text")
    spec = TinyModelSpec(seed=args.seed, pretrain_steps=args.pretrain_steps)
    started = time.monotonic()
    out = build_from_sample(args.out, spec, args.sample_dir)
    print(f"tiny model written to {out} in {time.monotonic() - started:.0f} s")
    print(f"load it with AutoModelForCausalLM.from_pretrained({str(out)!r})")
    return 0
