"""Prefill: a batch's prompts through the model once, into a cache with room for the answers.

Work the batch shares is done once:
- Prompts that begin alike (every grounded prompt opens with the same system turn) share
  their common prefix: it runs once (once per model in a batch of several models, each its
  own keys and values), its keys and values are copied into every row, and only
  each prompt's remainder is prefilled. Each row's cache is laid out [prefix][pads][remainder],
  the pads masked and positions counted over real tokens, so every token sits where it would
  in its own prompt. `benchmarks/prefix_cache.py` measures what that saves.
- Rows with the same prompt (the base and a fine-tuned model asked the same question in one
  batch, `row_adapters`) share the stem of layers where their models do not differ: those
  layers run once per distinct prompt, and the rows part where the first adapter starts.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch

from shared.models.generation.kv_cache import broadcast_prefix, reserved_cache
from shared.models.generation.row_adapters import RowModels

# A shared prefix shorter than this is prefilled with the rest: not worth a second forward.
MIN_SHARED_PREFIX = 16


def shared_prefix_length(prompts: Sequence[list[int]]) -> int:
    """How many leading tokens every prompt shares, leaving each at least one of its own
    (the last prompt token's logits start the answer); 0 for a single prompt."""
    if len(prompts) < 2:
        return 0
    first, limit = prompts[0], min(len(p) for p in prompts) - 1
    length = 0
    while length < limit and all(p[length] == first[length] for p in prompts):
        length += 1
    return length


def prefill(
    model: Any,
    prompts: Sequence[list[int]],
    pad_id: int,
    max_tokens: int,
    *,
    share_prefix: bool = True,
    share_stem: bool = True,
    models: RowModels | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]:
    """Prefill the batch with room for `max_tokens` more: (last position's logits, attention
    mask, positions, cache). `models` says which model each row runs (None: all one model).
    Its shared prefix runs once per model unless `share_prefix` is false; rows with the same
    prompt run the layers below their models' first difference once unless `share_stem` is
    false."""
    device = model.device
    shared = shared_prefix_length(prompts) if share_prefix else 0
    if shared < MIN_SHARED_PREFIX:
        shared = 0
    ids, rest_mask = _left_padded([p[shared:] for p in prompts], pad_id, device)
    capacity = shared + ids.shape[1] + max_tokens
    cache = reserved_cache(model, capacity)
    leaders, model_of_row = _first_of_each(models.keys() if models else [None] * len(prompts))
    model_of = torch.tensor(model_of_row, device=device)
    prefix = None
    if shared:
        prefix = reserved_cache(model, shared)
        prefix_ids = torch.tensor([prompts[0][:shared]] * len(leaders), device=device)
        if models is not None:
            models.assign(leaders)
        model(input_ids=prefix_ids, cache=prefix, logits_to_keep=1)  # only its cache is kept
        broadcast_prefix(cache, prefix, model_of)
    mask = torch.cat([rest_mask.new_ones((len(prompts), shared)), rest_mask], dim=-1)
    positions = shared + (rest_mask.cumsum(-1) - 1).clamp(min=0)
    if models is not None:
        models.assign()
    distinct, of_row = _first_of_each([tuple(p) for p in prompts])
    layers = _decoder(model)
    first = models.first_layer() if models is not None else None
    stem = 0 if layers is None else len(layers) if first is None else min(first, len(layers))
    if share_stem and stem and len(distinct) < len(prompts):
        stem_cache = reserved_cache(model, capacity)
        if prefix is not None:  # the prefix's stem layers are the same for every model
            broadcast_prefix(stem_cache, prefix, model_of[distinct])
        logits = _prefill_stem(
            model,
            (ids, mask, positions),
            (cache, stem_cache),
            torch.tensor(distinct, device=device),
            torch.tensor(of_row, device=device),
            stem,
        )
        return logits, mask, positions, cache
    # Only the last position's logits are needed: the LM head over every prompt position
    # would be a (rows x prompt x vocabulary) product thrown away.
    out = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, logits_to_keep=1
    )
    return out.logits[:, -1, :], mask, positions, cache


def _left_padded(
    prompts: Sequence[list[int]], pad_id: int, device: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


def _first_of_each(keys: Sequence[Hashable]) -> tuple[list[int], list[int]]:
    """The first row of each distinct key (a prompt, a model), and for every row the index of
    its key among those."""
    first: dict[Hashable, int] = {}
    leaders: list[int] = []
    of_row = []
    for row, key in enumerate(keys):
        if key not in first:
            first[key] = len(leaders)
            leaders.append(row)
        of_row.append(first[key])
    return leaders, of_row


def _decoder(model: Any) -> Any:
    """The decoder layers of a Llama-style causal LM (PEFT's wrapper passes them through);
    None for a model without those parts, whose rows are then prefilled whole."""
    inner = getattr(model, "model", None)
    parts = ("embed_tokens", "layers", "norm", "rotary_emb")
    if inner is None or not hasattr(model, "lm_head") or not all(hasattr(inner, p) for p in parts):
        return None
    return inner.layers


def _prefill_stem(
    model: Any,
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    caches: tuple[Any, Any],
    distinct: torch.Tensor,
    of_row: torch.Tensor,
    stem: int,
) -> torch.Tensor:
    """The first `stem` layers over the distinct prompts (`stem_cache`), the rest over every
    row (`cache`), whose lower layers then take their prompt's stem keys and values. The
    steps of the Llama model's own forward, split where the rows part."""
    from transformers.masking_utils import create_causal_mask

    ids, mask, positions = inputs
    cache, stem_cache = caches
    inner = model.model
    hidden = inner.embed_tokens(ids[distinct])
    stem_positions = positions[distinct]
    causal = create_causal_mask(
        config=inner.config,
        inputs_embeds=hidden,
        attention_mask=mask[distinct],
        cache=stem_cache,
        position_ids=stem_positions,
    )
    rotary = inner.rotary_emb(hidden, position_ids=stem_positions)
    for layer in inner.layers[:stem]:
        hidden = layer(
            hidden,
            attention_mask=causal,
            position_embeddings=rotary,
            position_ids=stem_positions,
            cache=stem_cache,
            use_cache=True,
        )
    hidden = hidden[of_row]
    if isinstance(causal, torch.Tensor) and causal.shape[0] > 1:
        causal = causal[of_row]  # one mask per row (a single one serves every row as it is)
    rotary = tuple(part[of_row] for part in rotary)
    for layer in inner.layers[stem:]:
        hidden = layer(
            hidden,
            attention_mask=causal,
            position_embeddings=rotary,
            position_ids=positions,
            cache=cache,
            use_cache=True,
        )
    for index in range(stem):
        cache.layers[index].take_rows(stem_cache.layers[index], of_row)
    logits: torch.Tensor = model.lm_head(inner.norm(hidden[:, -1:, :]))
    return logits[:, -1, :]
