"""Token counting with the embedder's own tokenizer, so chunks fit the model's window.

The tokenizer is read from the model's `tokenizer.json` with the `tokenizers` library (no torch
import, fast start for the worker); a model without one falls back to transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from shared.models.embedding import resolve_embedding_model

# Counts the tokens of each text (no special tokens), in order.
TokenCounter = Callable[[Sequence[str]], list[int]]


def load_token_counter(model_name: str) -> TokenCounter:
    """The token counter of the embedding model called `model_name`."""
    location = resolve_embedding_model(model_name)
    tokenizer_file = Path(location) / "tokenizer.json"
    if tokenizer_file.is_file():
        from tokenizers import Tokenizer

        fast = Tokenizer.from_file(str(tokenizer_file))
        fast.no_truncation()
        fast.no_padding()

        def count_fast(texts: Sequence[str]) -> list[int]:
            encodings = fast.encode_batch(list(texts), add_special_tokens=False)
            return [len(encoding.ids) for encoding in encodings]

        return count_fast

    from transformers import AutoTokenizer

    slow = AutoTokenizer.from_pretrained(location)

    def count_auto(texts: Sequence[str]) -> list[int]:
        ids = slow(list(texts), add_special_tokens=False)["input_ids"]
        return [len(row) for row in ids]

    return count_auto
