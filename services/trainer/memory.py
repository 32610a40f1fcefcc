"""Pre-flight memory estimate: will this run fit the device, before anything is loaded?

A deliberately simple model of where QLoRA's memory goes, good to within tens of percent:
4-bit base weights, embeddings and LM head in the compute dtype, LoRA parameters with their
gradients and AdamW state, activations (per layer, or one layer's worth plus the checkpoints
when gradient checkpointing is on), and the fp32 logits of the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GiB = 1 << 30
# NF4 stores 4 bits a weight plus one absmax per 64-weight block; double quantization cuts the
# absmax cost from 32 bits per block to ~8.2 (an 8-bit absmax plus one fp32 per 256 of them).
NF4_BITS_PER_WEIGHT = 4 + 8 / 64 + 32 / (64 * 256)
# Activations kept for backward by one decoder layer, in units of batch*seq*hidden values:
# residuals, norms, q/k/v/o, MLP gate/up/act (~3.5x hidden each) and LoRA inputs.
ACTIVATION_VALUES_PER_TOKEN_PER_HIDDEN = 34


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes by component; `total` is what the device must hold."""

    base_weights: int
    lora_and_optimizer: int
    activations: int
    logits: int
    overhead: int

    @property
    def total(self) -> int:
        """Everything together."""
        return (
            self.base_weights
            + self.lora_and_optimizer
            + self.activations
            + self.logits
            + self.overhead
        )

    def table(self) -> str:
        """A few lines for the console."""
        rows = [
            ("base weights", self.base_weights),
            ("LoRA + grads + AdamW", self.lora_and_optimizer),
            ("activations", self.activations),
            ("logits (loss)", self.logits),
            ("runtime overhead", self.overhead),
            ("total", self.total),
        ]
        return "\n".join(f"  {name:<22}{value / GiB:8.2f} GiB" for name, value in rows)


def lora_parameter_count(model_config: Any, r: int) -> int:
    """LoRA parameters on q, k, v, o, gate, up, down of every layer: r * (in + out) each."""
    hidden = model_config.hidden_size
    inter = model_config.intermediate_size
    heads = model_config.num_attention_heads
    kv_heads = getattr(model_config, "num_key_value_heads", None) or heads
    head_dim = getattr(model_config, "head_dim", None) or hidden // heads
    q_out, kv_out = heads * head_dim, kv_heads * head_dim
    per_layer = r * (
        (hidden + q_out)
        + 2 * (hidden + kv_out)
        + (q_out + hidden)  # q, k, v, o
        + 2 * (hidden + inter)
        + (inter + hidden)  # gate, up, down
    )
    return int(per_layer * model_config.num_hidden_layers)


def estimate_memory(
    model_config: Any,
    *,
    quantization: str,
    lora_r: int,
    batch_size: int,
    seq_len: int,
    compute_bytes: int,
    gradient_checkpointing: bool,
    device: str,
) -> MemoryEstimate:
    """Estimate the peak memory of one QLoRA training step."""
    hidden = model_config.hidden_size
    inter = model_config.intermediate_size
    layers = model_config.num_hidden_layers
    vocab = model_config.vocab_size
    heads = model_config.num_attention_heads
    kv_heads = getattr(model_config, "num_key_value_heads", None) or heads
    head_dim = getattr(model_config, "head_dim", None) or hidden // heads
    linear_per_layer = (
        hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2 + 3 * hidden * inter
    )
    linear = linear_per_layer * layers
    embeddings = vocab * hidden * (1 if getattr(model_config, "tie_word_embeddings", False) else 2)
    if quantization == "4bit":
        base = int(linear * NF4_BITS_PER_WEIGHT / 8) + embeddings * compute_bytes
    else:
        base = (linear + embeddings) * compute_bytes
    lora = lora_parameter_count(model_config, lora_r)
    lora_bytes = lora * (4 + 4 + 8)  # fp32 weights, grads, AdamW's two moments
    tokens = batch_size * seq_len
    per_layer_activations = tokens * hidden * ACTIVATION_VALUES_PER_TOKEN_PER_HIDDEN * compute_bytes
    if gradient_checkpointing:
        activations = tokens * hidden * compute_bytes * layers + per_layer_activations
    else:
        activations = per_layer_activations * layers
    logits = tokens * vocab * 4 * 2  # fp32 logits and their gradient
    overhead = int(0.6 * GiB) if device == "cuda" else int(0.3 * GiB)
    return MemoryEstimate(base, lora_bytes, activations, logits, overhead)


def device_memory_bytes(device: str) -> int:
    """What the device can hold: GPU memory, or the RAM available now on the CPU."""
    if device == "cuda":
        import torch

        return int(torch.cuda.get_device_properties(0).total_memory)
    import psutil

    return int(psutil.virtual_memory().available)
