"""Which tokens of a training example are trained: the answer and its end-of-turn, nothing else.

The recipe trains on exactly these ids and masks (TRL takes them as a tokenized dataset), and
`finerag dataset inspect` shows them, so a person sees the labels before a GPU hour is spent. The
split follows TRL's conversational prompt-completion format (the prompt rendered with the
generation prompt; the completion is what follows it), and a test holds TRL's own tokenization
of ordinary text to the same result. Tokens come from `shared.models.chat_encoding.encode_chat`, the
encoder the gateway serves with: a special-token string inside a document, question or answer is
plain text in training as it is in serving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.contracts.chat_data import iter_chat_jsonl
from shared.models.chat_encoding import encode_chat


@dataclass(frozen=True)
class LabelledExample:
    """Token ids and, for each, whether the loss is computed on it."""

    input_ids: list[int]
    trained: list[bool]

    @property
    def prompt_ids(self) -> list[int]:
        """The masked prefix: what the model is given."""
        return self.input_ids[: self.trained.index(True)] if any(self.trained) else self.input_ids

    @property
    def completion_mask(self) -> list[int]:
        """TRL's `completion_mask` column: 1 where the loss is computed."""
        return [int(t) for t in self.trained]


def label_example(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> LabelledExample:
    """Tokenize a conversation as the recipe trains it: loss on the last assistant turn only."""
    prompt = encode_chat(tokenizer, messages[:-1], add_generation_prompt=True)
    full = encode_chat(tokenizer, messages, add_generation_prompt=False)
    shared = 0
    while shared < min(len(prompt), len(full)) and prompt[shared] == full[shared]:
        shared += 1
    return LabelledExample(full, [False] * shared + [True] * (len(full) - shared))


def render_labelled_examples(path: Path, tokenizer_name: str, n: int) -> str:
    """A token-by-token view of the first `n` examples: masked tokens dim, trained ones marked."""
    from shared.models.loading import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_name)
    lines: list[str] = []
    for index, messages in enumerate(iter_chat_jsonl(path)):
        if index >= n:
            break
        example = label_example(tokenizer, messages)
        trained = sum(example.trained)
        lines.append(
            f"── example {index + 1}: {len(example.input_ids)} tokens, {trained} trained "
            f"({len(example.input_ids) - trained} masked)"
        )
        prompt_tail = example.input_ids[
            max(0, len(example.prompt_ids) - 12) : len(example.prompt_ids)
        ]
        lines.append(
            "   …prompt ends: " + " ".join(repr(tokenizer.decode([t])) for t in prompt_tail)
        )
        lines.append("   TRAINED:")
        for token_id, is_trained in zip(example.input_ids, example.trained, strict=True):
            if is_trained:
                lines.append(f"     {token_id:>7}  {tokenizer.decode([token_id])!r}")
    return "\n".join(lines)
