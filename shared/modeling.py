"""Loading a base model (4-bit or not), attaching LoRA adapters: once, for trainer and gateway.

Only the trainer and the gateway import this module (it pulls in torch and transformers). Both
load `meta-llama/Llama-3.1-8B-Instruct` in production and the tiny model in tests through the
same functions, so precision, quantization and adapter handling cannot differ between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch
    from transformers import BitsAndBytesConfig, PreTrainedModel, PreTrainedTokenizerBase

Quantization = Literal["none", "4bit"]

# Llama 3.1 ends a turn with any of these; generation (gateway, evaluation) stops at the first.
END_TOKENS = ("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>")


def end_token_ids(tokenizer: Any) -> frozenset[int]:
    """Ids of the tokens that end an answer (those the vocabulary has, and its eos token)."""
    vocab = tokenizer.get_vocab()
    names = [*END_TOKENS, tokenizer.eos_token]
    return frozenset(int(vocab[name]) for name in names if name and name in vocab)


@dataclass(frozen=True)
class DeviceProfile:
    """What the machine can do, which decides precision and gradient checkpointing."""

    device: str  # "cuda" or "cpu"
    bf16: bool  # the device computes in bfloat16 at full speed

    @property
    def compute_dtype(self) -> torch.dtype:
        """bfloat16 on a GPU that supports it, else float32 (bf16 on CPUs measured ~10x slower)."""
        import torch

        return torch.bfloat16 if self.bf16 else torch.float32

    @property
    def gradient_checkpointing(self) -> bool:
        """Trade compute for memory only where memory is the limit (a GPU)."""
        return self.device == "cuda"


def device_profile() -> DeviceProfile:
    """Inspect the current machine."""
    import torch

    if torch.cuda.is_available():
        return DeviceProfile("cuda", bf16=torch.cuda.is_bf16_supported())
    return DeviceProfile("cpu", bf16=False)


def nf4_config(profile: DeviceProfile | None = None) -> BitsAndBytesConfig:
    """QLoRA's 4-bit storage: NF4 with double quantization, computing in the device's dtype."""
    from transformers import BitsAndBytesConfig

    profile = profile or device_profile()
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=profile.compute_dtype,
        bnb_4bit_quant_storage=profile.compute_dtype,
    )


def load_tokenizer(name_or_path: str | Path) -> PreTrainedTokenizerBase:
    """The base model's tokenizer, with a pad token distinct from its end tokens."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    if tokenizer.pad_token is None:
        # Llama 3.1 ships no pad token but reserves this one for fine-tuning; padding with an
        # end token would teach the model that end-of-turn tokens are noise.
        reserved = "<|finetune_right_pad_id|>"
        if reserved in tokenizer.get_vocab():
            tokenizer.pad_token = reserved
        else:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
    return tokenizer


def load_base_model(
    name_or_path: str | Path,
    *,
    quantization: Quantization = "none",
    profile: DeviceProfile | None = None,
    **kwargs: Any,
) -> PreTrainedModel:
    """Load a causal LM from the Hub or a folder, in 4-bit NF4 or the device's precision."""
    from transformers import AutoModelForCausalLM

    profile = profile or device_profile()
    options: dict[str, Any] = {"dtype": profile.compute_dtype, **kwargs}
    if quantization == "4bit":
        options["quantization_config"] = nf4_config(profile)
        options.setdefault("device_map", {"": 0} if profile.device == "cuda" else {"": "cpu"})
    elif profile.device == "cuda":
        options.setdefault("device_map", {"": 0})
    return AutoModelForCausalLM.from_pretrained(str(name_or_path), **options)


def lora_config(
    r: int = 16,
    alpha: int = 32,
    dropout: float = 0.05,
    target_modules: str | list[str] = "all-linear",
) -> Any:
    """LoRA on every linear layer of the decoder (q, k, v, o, gate, up, down), not the LM head."""
    from peft import LoraConfig

    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
