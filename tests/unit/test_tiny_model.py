"""The tiny model loads and trains through the production code paths (4-bit NF4 + LoRA)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from finerag.tiny_model import BOS, EOS_TEXT, EOT, PAD, TinyModelSpec, build_tiny_model
from shared.contracts.prompts import CHAT_TEMPLATE_KWARGS, Source, grounded_messages, render_prompt
from shared.models.loading import DeviceProfile, load_base_model, lora_config, nf4_config

CPU = DeviceProfile("cpu", bf16=False)


def test_loads_like_a_hub_llama(random_tiny_model_dir: Path):
    config = json.loads((random_tiny_model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["num_key_value_heads"] < config["num_attention_heads"]  # grouped-query
    assert config["rope_parameters"]["rope_type"] == "llama3"
    assert (random_tiny_model_dir / "model.safetensors").exists()
    model = AutoModelForCausalLM.from_pretrained(random_tiny_model_dir)
    assert type(model).__name__ == "LlamaForCausalLM"


def test_tokenizer_has_llama3_special_tokens_and_a_distinct_pad(random_tiny_model_dir: Path):
    tokenizer = AutoTokenizer.from_pretrained(random_tiny_model_dir)
    vocab = tokenizer.get_vocab()
    for token in (BOS, EOS_TEXT, "<|start_header_id|>", "<|end_header_id|>", EOT, PAD):
        assert token in vocab
        assert tokenizer.convert_tokens_to_ids(token) is not None
    assert tokenizer.bos_token == BOS
    assert tokenizer.eos_token == EOT
    assert tokenizer.pad_token == PAD
    end_ids = set(
        AutoModelForCausalLM.from_pretrained(random_tiny_model_dir).generation_config.eos_token_id
    )
    assert tokenizer.pad_token_id not in end_ids
    assert vocab[EOT] in end_ids
    # Like Llama 3, plain encoding starts with <|begin_of_text|>.
    assert tokenizer("hello")["input_ids"][0] == vocab[BOS]
    # Special tokens are single ids, never split into bytes.
    assert tokenizer(EOT, add_special_tokens=False)["input_ids"] == [vocab[EOT]]


def test_chat_template_renders_the_llama3_format(random_tiny_model_dir: Path):
    tokenizer = AutoTokenizer.from_pretrained(random_tiny_model_dir)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Price?"},
    ]
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, **CHAT_TEMPLATE_KWARGS
    )
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
        "Be brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nPrice?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    # The grounded prompt renders through the same template and round-trips through the tokenizer.
    prompt = render_prompt(tokenizer, grounded_messages("q?", [Source("The X costs $5.")]))
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids.count(tokenizer.bos_token_id) == 1
    assert tokenizer.decode(ids) == prompt


def test_qlora_forward_and_backward_on_cpu(random_tiny_model_dir: Path):
    """4-bit NF4 with double quantization, LoRA on all linear layers, a real backward pass."""
    from bitsandbytes.nn import Linear4bit
    from peft import get_peft_model, prepare_model_for_kbit_training

    config = nf4_config(CPU)
    assert config.load_in_4bit
    assert config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant
    model = load_base_model(random_tiny_model_dir, quantization="4bit", profile=CPU)
    quantized = [m for m in model.modules() if isinstance(m, Linear4bit)]
    assert len(quantized) == 7 * model.config.num_hidden_layers  # q k v o gate up down
    assert all(m.weight.quant_state.nested for m in quantized)  # type: ignore[attr-defined]  # double quantization

    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, lora_config(r=8, alpha=16, dropout=0.0))
    targets = {n.split(".")[-1] for n, m in model.named_modules() if hasattr(m, "lora_A")}
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable
    assert all(p.dtype == torch.float32 for p in trainable)

    tokenizer = AutoTokenizer.from_pretrained(random_tiny_model_dir)
    batch = tokenizer(
        ["The price is $5.", "Returns within 30 days."], return_tensors="pt", padding=True
    )
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD(trainable, lr=1.0)
    for _ in range(2):  # LoRA B starts at zero, so A only moves from the second step
        loss = model(**batch, labels=labels).loss
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    moved = [
        n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])
    ]
    assert any("lora_A" in n for n in moved)
    assert any("lora_B" in n for n in moved)


def test_4bit_layers_can_keep_the_training_kernel_in_eval_mode(random_tiny_model_dir: Path):
    """After `dequantizing_4bit_matmul`, an eval forward leaves the 4-bit weights as they are
    (bitsandbytes would otherwise repack them for its CPU inference kernel) and computes what
    the training-mode forward computes."""
    import bitsandbytes as bnb

    from shared.models.loading import dequantizing_4bit_matmul

    model = load_base_model(random_tiny_model_dir, quantization="4bit", profile=CPU)
    ids = torch.tensor([[1, 5, 9, 14, 3]])
    model.train()
    with torch.no_grad():
        training = model(input_ids=ids).logits
    dequantizing_4bit_matmul(model)
    model.eval()
    with torch.inference_mode():
        evaluating = model(input_ids=ids).logits
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers
    assert not any(
        getattr(getattr(m.weight, "quant_state", None), "packing_format_for_cpu", False)
        for m in layers
    )
    assert torch.allclose(training, evaluating, atol=1e-5)


def _small_spec(**changes: Any) -> TinyModelSpec:
    """A model that builds in seconds, for tests that build their own."""
    small = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
        "pretrain_seq_len": 32,
        "pretrain_batch_size": 2,
    }
    return TinyModelSpec(**{**small, **changes})


def test_build_is_deterministic(tmp_path: Path):
    corpus = [
        f"The Zephyr K{i} costs ${100 + i * 7} and ships in {i % 5 + 1} days." for i in range(60)
    ]
    spec = _small_spec(pretrain_steps=3)

    def digest(out: Path) -> str:
        build_tiny_model(out, corpus, spec)
        parts = [(out / name).read_bytes() for name in ("model.safetensors", "tokenizer.json")]
        return hashlib.sha256(b"".join(parts)).hexdigest()

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    other = TinyModelSpec(**{**spec.__dict__, "seed": 1})
    build_tiny_model(tmp_path / "c", corpus, other)
    assert (tmp_path / "c" / "model.safetensors").read_bytes() != (
        tmp_path / "a" / "model.safetensors"
    ).read_bytes()


def test_empty_corpus_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="corpus"):
        build_tiny_model(tmp_path, [])


def test_tied_embeddings_load_back_as_one_matrix(tmp_path: Path):
    """Llama 3.2 1B/3B tie the output layer to the input embeddings; the tiny model can too."""
    corpus = [f"The Zephyr K{i} weighs {i + 2} kg." for i in range(40)]
    spec = _small_spec(pretrain_steps=2, tie_word_embeddings=True)
    build_tiny_model(tmp_path, corpus, spec)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert model.config.tie_word_embeddings
    head, embeddings = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    assert head.data_ptr() == embeddings.data_ptr()
    assert not torch.equal(embeddings, torch.zeros_like(embeddings))
