"""`finerag feedback export`: corrected answers from the gateway's feedback store as chat JSONL."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add `finerag feedback ...`."""
    feedback = subparsers.add_parser("feedback", help="feedback collected by the gateway")
    actions = feedback.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write corrected answers as chat JSONL for the next dataset",
        description="Each completion that received a correction becomes one line "
        '{"messages": [...the prompt the model saw..., {"role": "assistant", "content": '
        "correction}]} (the latest correction wins).",
    )
    export.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from services.gateway.core.feedback_store import FeedbackStore, feedback_db_path
    from shared.infrastructure.settings import get_settings

    path = feedback_db_path(get_settings().data_dir)
    if not path.is_file():
        print(f"no feedback store at {path}: nothing was collected yet")
        return 1
    store = FeedbackStore(path)
    count = 0
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for example in store.corrected_examples():
                out.write(json.dumps(example, ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, args.out)
    finally:
        store.close()
    print(f"{count} corrected answers written to {args.out}")
    return 0
