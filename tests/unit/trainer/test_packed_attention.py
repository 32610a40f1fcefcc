"""Segment-wise attention for packed rows: exactly each example on its own, and `sdpa` otherwise."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.masking_utils import create_causal_mask
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from services.trainer import packed_attention
from services.trainer.packed_attention import (
    PACKED_SDPA,
    plan_segments,
    register_packed_attention,
    segment_boundaries,
    select_attention,
)
from shared.models.loading import DeviceProfile

# Two examples share one padded SDPA call (9 and 8 tokens), one runs alone (70).
LENGTHS = (9, 70, 8)


def _model(attention: str) -> LlamaForCausalLM:
    """A seeded two-layer Llama with grouped-query attention (4 query heads, 2 key/value)."""
    register_packed_attention()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    config._attn_implementation = attention
    return LlamaForCausalLM(config).eval()


def _examples() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randint(3, 64, (n,), generator=generator) for n in LENGTHS]


def _packed(examples: list[torch.Tensor]) -> dict[str, Any]:
    """One padding-free row as TRL's trainer passes it: restarting positions, cu_seqlens, no cache.

    (With a KV cache, transformers' `sdpa` does not look for packed rows at all.)
    """
    lengths = torch.tensor([len(e) for e in examples])
    cu_seq_lens = torch.cat([torch.zeros(1), lengths.cumsum(0)]).to(torch.int32)
    return {
        "input_ids": torch.cat(examples)[None],
        "position_ids": torch.cat([torch.arange(len(e)) for e in examples])[None],
        "cu_seq_lens_q": cu_seq_lens,
        "cu_seq_lens_k": cu_seq_lens,
        "max_length_q": int(lengths.max()),
        "max_length_k": int(lengths.max()),
        "use_cache": False,
    }


def _token_loss(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[:-1], ids[1:], reduction="sum")


def test_plan_batches_near_equal_lengths_and_restores_sequence_order():
    boundaries = [0, 9, 79, 87, 93, 303]  # lengths 9, 70, 8, 6, 210
    plan = plan_segments(boundaries)
    assert plan.count == 5
    # Longest first; 8 joins 9 (>= 7/8 of it), padded with the token after it; 6 does not.
    assert plan.calls == [(1, 210), (1, 70), (2, 9), (1, 6)]
    assert plan.gather.tolist()[280:298] == [*range(0, 9), *range(79, 88)]
    tokens = torch.arange(303.0)
    assert torch.equal(tokens[plan.gather][plan.restore], tokens)


def test_boundaries_come_from_cu_seq_lens_or_restarting_positions():
    batch = _packed(_examples())
    length = batch["input_ids"].shape[1]
    expected = [0, 9, 79, 87]
    assert segment_boundaries(1, length, None, batch["cu_seq_lens_q"]) == expected
    assert segment_boundaries(1, length, batch["position_ids"], None) == expected
    rows = torch.tensor([[0, 1, 2, 0, 1], [0, 1, 2, 3, 4]])
    assert segment_boundaries(2, 5, rows, None) == [0, 3, 5, 10]
    assert segment_boundaries(1, 5, None, None) is None


def test_packed_row_gives_the_logits_of_each_example_alone():
    examples = _examples()
    packed_model, sdpa_model = _model(PACKED_SDPA), _model("sdpa")
    with torch.no_grad():
        packed = packed_model(**_packed(examples)).logits[0]
        alone = torch.cat([sdpa_model(e[None]).logits[0] for e in examples])
        dense = sdpa_model(**_packed(examples)).logits[0]  # transformers' block-diagonal mask
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(packed, dense, atol=1e-5, rtol=0)


def test_packed_rows_in_a_batch_are_split_by_their_positions_alone():
    examples = _examples()
    row = torch.cat(examples)
    positions = torch.cat([torch.arange(len(e)) for e in examples])
    # Second row: the same tokens as a single 87-token example.
    batch = {
        "input_ids": torch.stack([row, row]),
        "position_ids": torch.stack([positions, torch.arange(len(row))]),
        "use_cache": False,
    }
    with torch.no_grad():
        packed = _model(PACKED_SDPA)(**batch).logits
        sdpa_model = _model("sdpa")
        alone = torch.cat([sdpa_model(e[None]).logits[0] for e in examples])
        whole = sdpa_model(row[None]).logits[0]
    torch.testing.assert_close(packed[0], alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(packed[1], whole, atol=1e-5, rtol=0)


def test_lora_gradients_match_training_each_example_alone():
    from peft import LoraConfig, get_peft_model

    def lora(attention: str) -> torch.nn.Module:
        config = LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)
        torch.manual_seed(2)  # the same random A and B in both models
        return get_peft_model(_model(attention), config).train()

    examples = _examples()
    packed_model, alone_model = lora(PACKED_SDPA), lora("sdpa")
    logits = packed_model(**_packed(examples)).logits[0]
    spans = torch.tensor(LENGTHS).cumsum(0).tolist()
    starts = [0, *spans[:-1]]
    packed_loss = sum(
        _token_loss(logits[s:e], ids) for s, e, ids in zip(starts, spans, examples, strict=True)
    )
    alone_loss = sum(_token_loss(alone_model(ids[None]).logits[0], ids) for ids in examples)
    packed_loss.backward()
    alone_loss.backward()
    torch.testing.assert_close(packed_loss, alone_loss, atol=1e-4, rtol=1e-6)
    grads = {name: p.grad for name, p in alone_model.named_parameters() if p.requires_grad}
    assert grads
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values())
    for name, parameter in packed_model.named_parameters():
        if parameter.requires_grad:
            torch.testing.assert_close(parameter.grad, grads[name], atol=1e-5, rtol=1e-4)


def test_trl_padding_free_batch_trains_like_sdpa():
    examples = _examples()
    collator = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)
    batch = collator(
        [
            {"input_ids": torch.cat(examples[:2]).tolist(), "seq_lengths": list(LENGTHS[:2])},
            {"input_ids": examples[2].tolist(), "seq_lengths": [LENGTHS[2]]},
        ]
    )
    assert "attention_mask" not in batch
    assert "cu_seq_lens_q" in batch
    with torch.no_grad():
        packed = _model(PACKED_SDPA)(**batch, use_cache=False)
        dense = _model("sdpa")(**batch, use_cache=False)
    torch.testing.assert_close(packed.loss, dense.loss, atol=1e-5, rtol=0)
    torch.testing.assert_close(packed.logits, dense.logits, atol=1e-5, rtol=0)


def test_no_dense_mask_for_packed_rows_and_sdpas_mask_for_padding(monkeypatch):
    config = _model(PACKED_SDPA).config
    batch = _packed(_examples())
    embeds = torch.zeros(1, batch["input_ids"].shape[1], 32)

    def dense_mask(*args, **kwargs):
        raise AssertionError("a dense mask was built for a packed row")

    with monkeypatch.context() as patch:
        patch.setattr("transformers.masking_utils.sdpa_mask", dense_mask)
        assert create_causal_mask(config, embeds, None, None, batch["position_ids"]) is None

    padding = torch.ones(2, 6, dtype=torch.long)
    padding[0, :2] = 0
    sdpa_config = _model("sdpa").config
    args = (torch.zeros(2, 6, 32), padding, None, torch.arange(6)[None])
    expected = create_causal_mask(sdpa_config, *args)
    assert expected is not None
    assert torch.equal(create_causal_mask(config, *args), expected)


def test_padded_batch_falls_back_to_sdpa_with_its_mask():
    ids = torch.randint(3, 64, (2, 12), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding, as for generation
    mask[1, 9:] = 0  # right padding, as for evaluation
    with torch.no_grad():
        packed = _model(PACKED_SDPA)(input_ids=ids, attention_mask=mask).logits
        sdpa = _model("sdpa")(input_ids=ids, attention_mask=mask).logits
    keep = mask.bool()
    torch.testing.assert_close(packed[keep], sdpa[keep], atol=1e-6, rtol=0)


def test_generation_with_a_kv_cache_gives_the_same_tokens_as_sdpa():
    prompts = torch.randint(3, 64, (2, 7), generator=torch.Generator().manual_seed(4))
    mask = torch.ones_like(prompts)
    mask[1, :3] = 0
    options = {"max_new_tokens": 12, "do_sample": False, "pad_token_id": 0}
    outputs = {}
    for attention in (PACKED_SDPA, "sdpa"):
        model = _model(attention)
        outputs[attention] = (
            model.generate(prompts[:1], **options),
            model.generate(prompts, attention_mask=mask, **options),
        )
    assert outputs[PACKED_SDPA][0].shape[1] == 7 + 12
    for packed, sdpa in zip(outputs[PACKED_SDPA], outputs["sdpa"], strict=True):
        assert torch.equal(packed, sdpa)


def test_loading_by_name_uses_the_packed_attention(tmp_path):
    from transformers import AutoModelForCausalLM

    _model("sdpa").save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation=PACKED_SDPA)
    assert model.config._attn_implementation == PACKED_SDPA


@pytest.mark.parametrize(
    ("packing", "device", "bf16", "flash", "expected"),
    [
        (False, "cpu", False, False, None),
        (True, "cpu", False, False, PACKED_SDPA),
        (True, "cuda", True, True, "flash_attention_2"),
        (True, "cuda", True, False, PACKED_SDPA),
        (True, "cuda", False, True, PACKED_SDPA),  # FlashAttention 2 needs bf16/fp16
    ],
)
def test_select_attention(monkeypatch, packing, device, bf16, flash, expected):
    from transformers import AttentionInterface

    monkeypatch.setattr(
        "transformers.utils.is_flash_attn_2_available", lambda kernels_fallback_ok=False: flash
    )
    assert select_attention(packing, DeviceProfile(device, bf16=bf16)) == expected
    if expected == PACKED_SDPA:
        assert AttentionInterface()[PACKED_SDPA] is packed_attention.packed_sdpa_attention
