"""The `finerag` command. Each subcommand group lives in its own module with a `register()`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from shared.contracts.errors import FineRAGError

# Each module adds its subcommands to the parser; subcommands set `func` to their handler.
_COMMAND_MODULES = (
    "finerag.cli.model",
    "finerag.cli.sample",
    "finerag.cli.demo",
    "finerag.cli.config",
    "finerag.cli.feedback",
    "finerag.cli.knowledge",
    "finerag.cli.serve",
    "finerag.cli.evaluation",
    "finerag.cli.training",
    "finerag.cli.jobs",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every registered subcommand."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="finerag",
        description="Fine-tune an open LLM on your knowledge, measure it, serve it with RAG.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finerag` console script."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] = args.func
    try:
        return handler(args) or 0
    except FineRAGError as exc:
        print(f"finerag {args.command}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
