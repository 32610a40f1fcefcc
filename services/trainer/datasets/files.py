"""The dataset builder's files: Alpaca input read as conversations, the two split files written
atomically (their content hash is the dataset's version), and the data card."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.trainer.datasets.split import Example, Split
from shared.contracts.chat_data import ChatDataError, Message, validate_messages, write_chat_jsonl
from shared.contracts.prompts import CHAT_TEMPLATE_KWARGS
from shared.contracts.schemas import content_hash
from shared.contracts.wire_json import read_json, split_jsonl_lines

if TYPE_CHECKING:  # the builder imports this module
    from services.trainer.datasets.build import DatasetOptions


def read_alpaca(path: Path) -> Iterator[list[Message]]:
    """Alpaca JSON (a list) or JSONL of {instruction, input, output} as conversations."""
    text = path.read_text(encoding="utf-8")
    records = (
        read_json(text, what=path.name)
        if text.lstrip().startswith("[")
        else [read_json(line, what=f"{path.name} line {n}") for n, line in split_jsonl_lines(text)]
    )
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not record.get("instruction") or "output" not in record:
            raise ChatDataError(f"{path.name} record {index}: needs 'instruction' and 'output'")
        prompt = str(record["instruction"]).strip()
        if record.get("input"):
            prompt += "\n\n" + str(record["input"]).strip()
        yield validate_messages(
            [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": str(record["output"])},
            ],
            where=f"{path.name} record {index}",
        )


def write_splits(out_dir: Path, train: Sequence[Example], validation: Sequence[Example]) -> str:
    """Replace both JSONL files atomically; their content hash is the dataset's version."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, split in (("train", train), ("validation", validation)):
        tmp = out_dir / f".{name}.jsonl.tmp"
        write_chat_jsonl(tmp, [e.messages for e in split])
        tmp.replace(out_dir / f"{name}.jsonl")
    return content_hash(
        (out_dir / "train.jsonl").read_bytes() + b"\0" + (out_dir / "validation.jsonl").read_bytes()
    )


def _kind_counts(
    train: Sequence[Example], validation: Sequence[Example]
) -> dict[str, dict[str, int]]:
    """Examples per kind in each split; an empty split has no entry."""
    kinds: dict[str, dict[str, int]] = {}
    for name, split in (("train", train), ("validation", validation)):
        for example in split:
            kinds.setdefault(name, {}).setdefault(example.kind, 0)
            kinds[name][example.kind] += 1
    return kinds


def data_card(
    version: str,
    split: Split,
    inputs: dict[str, list[str]],
    tokenizer_name: str | None,
    options: DatasetOptions,
) -> dict[str, Any]:
    """The data card: enough to tell what a dataset holds and to build it again."""
    return {
        "version": version,
        "format": "openai-chat-jsonl",
        "counts": {
            "train": len(split.train),
            "validation": len(split.validation),
            "by_kind": _kind_counts(split.train, split.validation),
        },
        "dropped": split.dropped,
        "token_lengths": split.token_lengths,
        "split": {"by": "question", "val_ratio": options.val_ratio, "seed": options.seed},
        "validation_groups": sorted({e.group for e in split.validation}),
        "inputs": inputs,
        "grounded": {
            "kb": options.kb,
            "top_k": options.top_k,
            "unanswerable_ratio": options.unanswerable_ratio,
        }
        if options.kb
        else None,
        "tokenizer": tokenizer_name,
        "max_seq_len": options.max_seq_len,
        "chat_template_kwargs": CHAT_TEMPLATE_KWARGS,
    }
