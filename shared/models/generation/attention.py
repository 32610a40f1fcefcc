"""transformers' SDPA attention, with one CPU decoding case made as fast as the others.

In a decoding step (one query per row) of a model with grouped key/value heads (Llama 3.1,
SmolLM2), transformers folds the query heads of a group together and runs the kernel on the
key/value heads as they are ("packed"). It does so only when there is an attention mask: when
every row is as long as the others it drops the mask and asks the kernel to repeat the key/value
heads itself (`enable_gqa`), which on a CPU is about 5x slower (6.2 against 1.3 ms per layer
for 16 rows over 520 positions of SmolLM2-135M, `benchmarks/decode_attention.py`). Single
requests and batches of prompts of one length decode that way. Here such a step gets an
all-true mask, so it takes the packed path; everything else is transformers' own SDPA.
"""

from __future__ import annotations

from typing import Any

import torch

NAME = "finerag_sdpa"


def _sdpa_packed_decoding(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    grouped = getattr(module, "num_key_value_groups", 1) > 1
    if attention_mask is None and grouped and query.shape[2] == 1 and query.device.type == "cpu":
        attention_mask = torch.ones((1, 1, 1, key.shape[2]), dtype=torch.bool)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def use_packed_decoding(model: Any) -> None:
    """Switch `model` from transformers' SDPA to this one (other implementations stay)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return
    AttentionInterface.register(NAME, _sdpa_packed_decoding)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
