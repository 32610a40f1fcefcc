"""`finerag sample-domain`: write the invented company's knowledge base and question set."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from finerag.sample_domain import SampleDomain, generate_sample_domain


def register(subparsers: Any) -> None:
    """Add the `sample-domain` subcommand."""
    parser = subparsers.add_parser(
        "sample-domain",
        help="generate a sample knowledge base and labelled questions",
        description="Write an invented company's documents (Markdown, text, HTML, PDF) under "
        "OUT/kb and labelled questions to OUT/qa.jsonl. The same seed gives the same bytes.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--seed", type=int, default=7, help="RNG seed (default: 7)")
    parser.set_defaults(func=run_sample_domain)


def summary(domain: SampleDomain, seconds: float) -> str:
    """A one-screen report of what was written and where."""
    docs = ", ".join(f"{count} {fmt}" for fmt, count in domain.documents.items())
    lines = [
        f"Sample domain for {domain.company} (seed {domain.seed}) in {seconds:.2f} s",
        f"  knowledge base  {domain.kb_dir}",
        f"    {sum(domain.documents.values())} documents: {docs}",
        f"  questions       {domain.qa_path}",
    ]
    lines += [f"    {kind:<13} {count:>4}" for kind, count in domain.questions.items()]
    lines.append(f"  readme          {domain.readme_path}")
    return "\n".join(lines)


def run_sample_domain(args: argparse.Namespace) -> int:
    """Generate the sample domain and print the summary."""
    started = time.perf_counter()
    domain = generate_sample_domain(args.out, seed=args.seed)
    print(summary(domain, time.perf_counter() - started))
    return 0
