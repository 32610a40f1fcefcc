"""The completion-only loss: the same number and gradients as a cross-entropy over full logits,
with the LM head run only where a label is; and LoRA on the upper layers only."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from transformers import LlamaConfig, LlamaForCausalLM

from services.trainer.completion_loss import completion_loss, completion_positions
from shared.contracts.errors import InvalidRequestError
from shared.models.loading import decoder_linear_names, lora_config


def _model(layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=96,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return LlamaForCausalLM(config)


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(3, 96, (2, 20), generator=generator)
    labels = torch.full_like(ids, -100)
    labels[0, 12:] = ids[0, 12:]  # row 0 answers from position 12
    labels[1, 15:18] = ids[1, 15:18]  # row 1 answers a little, then pads
    return {"input_ids": ids, "labels": labels}


def _reference(model: LlamaForCausalLM, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"]).logits[:, :-1]
    targets = batch["labels"][:, 1:].flatten()
    return F.cross_entropy(logits.flatten(0, 1), targets, ignore_index=-100)


def test_positions_are_those_before_each_labelled_token() -> None:
    positions = completion_positions(_batch()["labels"]).tolist()
    assert positions == list(range(11, 19))  # row 0: 11..18 (predicting 12..19); row 1 inside it


def test_loss_and_gradients_match_a_full_logits_cross_entropy() -> None:
    model, batch = _model(), _batch()
    expected = _reference(model, batch)
    expected.backward()
    reference_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()

    loss, stats, _ = completion_loss(model, dict(batch))
    loss.backward()

    assert torch.allclose(loss, expected, atol=1e-6)
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None
        assert torch.allclose(parameter.grad, reference_grads[name], atol=1e-5), name
    assert 0.0 <= stats["mean_token_accuracy"] <= 1.0
    assert stats["entropy"] > 0


def test_accumulated_batches_divide_by_the_whole_count() -> None:
    model, batch = _model(), _batch()
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    alone, _, _ = completion_loss(model, dict(batch))
    shared, _, _ = completion_loss(
        model, dict(batch), num_items_in_batch=torch.tensor(labelled * 4)
    )
    assert torch.allclose(shared * 4, alone, atol=1e-6)


def test_lora_on_the_last_layers_only() -> None:
    from peft import get_peft_model

    model = _model(layers=4)
    assert decoder_linear_names(model) == [
        "down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj",
    ]  # fmt: skip
    peft_model = get_peft_model(model, lora_config(4, 8, 0.0, model=model, layers=2))
    adapted = {
        int(name.split(".layers.")[1].split(".")[0])
        for name, p in peft_model.named_parameters()
        if p.requires_grad
    }
    assert adapted == {2, 3}
    loss, _, _ = completion_loss(peft_model, _batch())
    loss.backward()  # the frozen layers below carry no gradient at all
    assert all(p.grad is None for p in peft_model.parameters() if not p.requires_grad)


def test_more_layers_than_the_model_has_is_refused() -> None:
    model = _model(layers=2)
    with pytest.raises(InvalidRequestError, match="lora_layers=3 but the model has 2"):
        lora_config(4, 8, 0.0, model=model, layers=3)
