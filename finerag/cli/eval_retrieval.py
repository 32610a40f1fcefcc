"""`finerag eval retrieval --kb NAME --qa FILE [--k 1,3,5,10]`: recall@k, MRR and nDCG@k of each
search mode on a question set (the service's, or the local store in-process)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finerag.cli.knowledge import open_retrieval
from shared.contracts.schemas import QACase
from shared.infrastructure.settings import get_settings


def parse_ks(text: str) -> list[int]:
    """`1,3,5,10` → [1, 3, 5, 10] (argparse type)."""
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--k takes comma-separated integers, not {text!r}"
        ) from exc
    if not ks or ks[0] < 1 or ks[-1] > 100:
        raise argparse.ArgumentTypeError("--k values must be between 1 and 100")
    return ks


def format_scores(scores: Sequence[Any], ks: Sequence[int]) -> str:
    """The metrics of each mode as an aligned table."""
    header = (
        ["mode", "questions"] + [f"recall@{k}" for k in ks] + ["MRR"] + [f"nDCG@{k}" for k in ks]
    )
    rows = [header]
    for score in scores:
        rows.append(
            [score.mode, str(score.questions)]
            + [f"{score.recall[k]:.3f}" for k in ks]
            + [f"{score.mrr:.3f}"]
            + [f"{score.ndcg[k]:.3f}" for k in ks]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )


def run_eval_retrieval(args: argparse.Namespace) -> int:
    """`finerag eval retrieval --kb NAME --qa FILE [--k 1,3,5,10]`."""
    from services.evaluation.retrieval_metrics import evaluate_retrieval

    lines = Path(args.qa).read_text(encoding="utf-8").splitlines()
    cases = [QACase.model_validate_json(line) for line in lines if line.strip()]
    with open_retrieval(get_settings()) as retrieval:
        scores = evaluate_retrieval(retrieval, args.kb, cases, ks=args.k)
    if args.json:
        print(json.dumps([vars(score) for score in scores], indent=2))
    else:
        print(format_scores(scores, args.k))
    return 0


def add_retrieval(group: Any) -> None:
    """Add `retrieval` to the `finerag eval` subcommands."""
    retrieval = group.add_parser("retrieval", help="recall@k, MRR, nDCG@k per search mode")
    retrieval.add_argument("--kb", required=True, help="knowledge base name")
    retrieval.add_argument("--qa", required=True, help="questions in the evaluation JSONL format")
    retrieval.add_argument("--k", type=parse_ks, default=[1, 3, 5, 10], help="e.g. 1,3,5,10")
    retrieval.add_argument("--json", action="store_true", help="print the scores as JSON")
    retrieval.set_defaults(func=run_eval_retrieval)
