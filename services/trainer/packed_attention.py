"""Attention for padding-free packed rows without FlashAttention: causal SDPA per example.

TRL's padding-free collator flattens a batch of packed rows into one sequence whose
`position_ids` restart at 0 at every example, and passes the example boundaries as
`cu_seq_lens_q`/`cu_seq_lens_k`. FlashAttention's varlen kernel uses those boundaries directly.
Without it (a CPU, or a GPU without flash-attn), transformers' `sdpa` builds a dense L x L
block-diagonal mask for the whole flattened sequence and computes all L^2 scores, most of them
masked: for 4 rows of 1024 tokens of mostly short examples, ~10x the examples' own attention.

`packed_sdpa` does what the varlen kernels do, in PyTorch: it splits the sequence at the
boundaries and runs causal SDPA per example, so the cost is sum(len_i^2) and nothing L x L is
ever built. Examples of nearly the same length (the shortest at least `BUCKET_FILL` of the
longest) share one batched SDPA call, which saves the per-call overhead on many short examples;
they are right-padded, which is exact, since under a causal mask no real token sees the padding
after it. The tokens are gathered into that layout and back once per layer. Anything
else (padded batches, generation with a KV cache, one example per row) goes to transformers'
own `sdpa`, with its mask, unchanged. It is written for decoder-only models whose every layer
attends causally over the full context (Llama, the recipe's family), not sliding windows.

`select_attention()` picks the implementation the recipe trains with.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import torch
from torch.nn.functional import scaled_dot_product_attention

if TYPE_CHECKING:
    from shared.models.loading import DeviceProfile

PACKED_SDPA = "packed_sdpa"
BUCKET_FILL = 0.875  # padding is at most 1/8 of a batched call's positions


@dataclass(frozen=True)
class SegmentPlan:
    """How a flattened packed sequence splits into examples, and how SDPA calls batch them.

    `gather` indexes the sequence's tokens into a layout where each call's examples sit one after
    another, right-padded to the call's longest; `calls` are the (examples, padded length) of each
    call in that layout; `restore` indexes the layout's outputs back into sequence order.
    """

    count: int
    gather: torch.Tensor
    calls: list[tuple[int, int]]
    restore: torch.Tensor


def plan_segments(
    boundaries: list[int], device: torch.device | str = "cpu", fill: float = BUCKET_FILL
) -> SegmentPlan:
    """Group the examples between consecutive `boundaries` (cu_seqlens) into SDPA calls."""
    total = boundaries[-1]
    spans = [(start, end) for start, end in pairwise(boundaries) if end > start]
    lengths = [end - start for start, end in spans]
    groups: list[list[int]] = []  # examples, longest first; each group is one SDPA call
    for index in sorted(range(len(spans)), key=lambda i: -lengths[i]):
        if groups and lengths[index] >= fill * lengths[groups[-1][0]]:
            groups[-1].append(index)
        else:
            groups.append([index])
    gather, calls, restore, row = [], [], torch.empty(total, dtype=torch.long), 0
    for group in groups:
        padded = lengths[group[0]]
        offsets = torch.arange(padded)
        starts = torch.tensor([spans[index][0] for index in group])
        real = offsets < torch.tensor([lengths[index] for index in group])[:, None]
        # Padding reads the tokens after an example (clamped at the end of the sequence): any
        # real values will do, since causal attention keeps them out of the real tokens' rows.
        tokens = (starts[:, None] + offsets).clamp_(max=total - 1)
        rows = row + torch.arange(tokens.numel()).view_as(tokens)
        restore[tokens[real]] = rows[real]
        gather.append(tokens.flatten())
        calls.append((len(group), padded))
        row += tokens.numel()
    return SegmentPlan(len(spans), torch.cat(gather).to(device), calls, restore.to(device))


def segment_boundaries(
    batch: int, length: int, position_ids: torch.Tensor | None, cu_seq_lens: torch.Tensor | None
) -> list[int] | None:
    """cu_seqlens of the flattened (batch * length) tokens, or None when nothing says where."""
    if cu_seq_lens is not None and batch == 1:
        boundaries = [int(b) for b in cu_seq_lens.tolist()]
        if boundaries[0] == 0 and boundaries[-1] == length:
            return boundaries
    if position_ids is None:
        return None
    # A new example starts wherever the position does not go up by one (as in transformers'
    # `find_packed_sequence_indices`), and at the start of every row.
    positions = position_ids.expand(batch, -1)
    starts = torch.ones_like(positions, dtype=torch.bool)
    starts[:, 1:] = positions[:, 1:] != positions[:, :-1] + 1
    flat = starts.flatten().nonzero().flatten().tolist()
    return [*flat, batch * length]


class _LastPlan:
    """The latest forward pass's plan: every layer gets the same tensors, so plan them once.

    Holding the tensors themselves (compared by identity) means their ids cannot be reused
    while cached; on a GPU this keeps the host sync to one per forward pass, not one per layer.
    """

    tensors: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)
    shape: tuple[int, int, torch.device] | None = None
    plan: SegmentPlan | None = None


def _plan_for(
    batch: int,
    length: int,
    position_ids: torch.Tensor | None,
    cu_seq_lens: torch.Tensor | None,
    device: torch.device,
) -> SegmentPlan | None:
    cached_positions, cached_cu = _LastPlan.tensors
    shape = (batch, length, device)
    if cached_positions is position_ids and cached_cu is cu_seq_lens and _LastPlan.shape == shape:
        return _LastPlan.plan
    boundaries = segment_boundaries(batch, length, position_ids, cu_seq_lens)
    plan = plan_segments(boundaries, device) if boundaries is not None else None
    _LastPlan.tensors, _LastPlan.shape, _LastPlan.plan = (position_ids, cu_seq_lens), shape, plan
    return plan


def packed_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: per-example causal SDPA for packed rows, else `sdpa`.

    query (batch, heads, length, dim) and key/value (batch, kv_heads, length, dim) come after
    RoPE; returns (batch, length, heads, dim) as every transformers attention function does.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, length, dim = query.shape
    causal = kwargs.get("is_causal")
    causal = getattr(module, "is_causal", True) if causal is None else causal
    plan = None
    if attention_mask is None and causal and key.shape[2] == length and length > 1:
        position_ids, cu_seq_lens = kwargs.get("position_ids"), kwargs.get("cu_seq_lens_q")
        plan = _plan_for(batch, length, position_ids, cu_seq_lens, query.device)
    if plan is None or plan.count == batch:  # one example per row: plain causal attention
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )

    kv_heads = key.shape[1]
    # Token-major (tokens, heads, dim), gathered into the plan's layout: one copy per tensor.
    q = query.transpose(1, 2).reshape(batch * length, heads, dim)[plan.gather]
    k = key.transpose(1, 2).reshape(batch * length, kv_heads, dim)[plan.gather]
    v = value.transpose(1, 2).reshape(batch * length, kv_heads, -1)[plan.gather]
    sizes = [examples * padded for examples, padded in plan.calls]
    outputs = []
    for (examples, padded), q_call, k_call, v_call in zip(
        plan.calls, q.split(sizes), k.split(sizes), v.split(sizes), strict=True
    ):
        out = scaled_dot_product_attention(
            q_call.view(examples, padded, heads, dim).transpose(1, 2),
            k_call.view(examples, padded, kv_heads, dim).transpose(1, 2),
            v_call.view(examples, padded, kv_heads, -1).transpose(1, 2),
            dropout_p=dropout,
            scale=scaling,
            is_causal=True,
            enable_gqa=kv_heads != heads,
        )
        outputs.append(out.transpose(1, 2).flatten(0, 1))
    output = torch.cat(outputs)[plan.restore]
    return output.view(batch, length, heads, -1), None


def packed_sdpa_mask(
    batch_size: int,
    q_length: int,
    kv_length: int,
    q_offset: int = 0,  # a tensor under a static cache
    kv_offset: int = 0,
    attention_mask: torch.Tensor | None = None,
    local_size: int | None = None,
    use_vmap: bool = False,
    **kwargs: Any,
) -> torch.Tensor | None:
    """transformers mask function: no mask for causal rows (packed or not), else `sdpa`'s mask.

    Without a padding mask or a cache offset, the attention function needs no mask: it finds
    the examples itself. Everything else (padding, a KV cache, sliding windows, custom overlays)
    gets exactly the mask `sdpa` would get.
    """
    from transformers.masking_utils import sdpa_mask

    plain_causal = (
        attention_mask is None
        and local_size is None
        and not use_vmap
        and not kwargs.get("allow_is_bidirectional_skip", False)
        and isinstance(q_offset, int)
        and q_offset == 0
        and kv_offset == 0
        and q_length == kv_length
    )
    if plain_causal:
        return None
    return sdpa_mask(
        batch_size=batch_size,
        q_length=q_length,
        kv_length=kv_length,
        q_offset=q_offset,
        kv_offset=kv_offset,
        attention_mask=attention_mask,
        local_size=local_size,
        use_vmap=use_vmap,
        **kwargs,
    )


def register_packed_attention() -> str:
    """Make `attn_implementation="packed_sdpa"` loadable (idempotent); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention)
    AttentionMaskInterface.register(PACKED_SDPA, packed_sdpa_mask)
    return PACKED_SDPA


def select_attention(packing: bool, profile: DeviceProfile) -> str | None:
    """The attention to train with: a varlen kernel for packed rows, else transformers' default.

    FlashAttention 2 (flash-attn, or the `kernels` build) on a GPU that has bf16; otherwise
    `packed_sdpa`. Without packing there is nothing to split: None keeps the default (`sdpa`).
    """
    if not packing:
        return None
    if profile.device == "cuda" and profile.bf16:
        from transformers.utils import is_flash_attn_2_available

        if is_flash_attn_2_available(kernels_fallback_ok=True):
            return "flash_attention_2"
    return register_packed_attention()
