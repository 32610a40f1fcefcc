"""Loading a base model (4-bit or not), attaching LoRA adapters: once, for trainer and gateway.

Only the trainer and the gateway import this module (it pulls in torch and transformers). Both
load `meta-llama/Llama-3.1-8B-Instruct` in production and the tiny model in tests through the
same functions, so precision, quantization and adapter handling cannot differ between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shared.contracts.errors import InvalidRequestError, NotFoundError

if TYPE_CHECKING:
    import torch
    from transformers import BitsAndBytesConfig, PreTrainedModel, PreTrainedTokenizerBase

Quantization = Literal["none", "4bit"]

# Names of reserved padding tokens, best first: Llama 3.1's, then common conventions.
PAD_CANDIDATES = ("<|finetune_right_pad_id|>", "<|pad|>", "<pad>", "[PAD]", "<|padding|>")
ADDED_PAD = "<|pad|>"  # added (and the embeddings grown) when the vocabulary has none to spare
_PROBE = "\u2063probe\u2063"  # an answer no template rewrites, to find what follows it


def turn_end_token_ids(tokenizer: Any) -> list[int]:
    """The special tokens the chat template writes right after an assistant's answer.

    Rendering a one-word answer and reading the special tokens that follow it works for any
    template (Llama 3.1's `<|eot_id|>`, ChatML's `<|im_end|>`, ...), with no list of names.
    """
    if not getattr(tokenizer, "chat_template", None):
        return []
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _PROBE}]
    try:
        text = str(tokenizer.apply_chat_template(messages, tokenize=False))
    except Exception:  # a template that needs a system turn or other roles: no answer probe
        return []
    tail = text[text.rfind(_PROBE) + len(_PROBE) :]
    special = set(getattr(tokenizer, "all_special_ids", [])) | {
        int(i) for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items() if t.special
    }
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
    ends: list[int] = []
    for token in ids:
        if token in special:
            ends.append(int(token))
        elif ends or tokenizer.decode([token]).strip():
            break  # the first plain text after the answer ends the search
    return ends[:1]


def end_token_ids(tokenizer: Any, generation_config: Any = None) -> frozenset[int]:
    """Ids of the tokens that end an answer: the template's end of turn, the tokenizer's eos,
    and every eos id of the model's generation config (read from the tokenizer's folder when
    not given). Generation (gateway, evaluation) stops at the first of them."""
    ids: set[int] = set(turn_end_token_ids(tokenizer))
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if generation_config is None:
        generation_config = _generation_config_beside(tokenizer)
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    return frozenset(ids)


def _generation_config_beside(tokenizer: Any) -> Any:
    folder = Path(str(getattr(tokenizer, "name_or_path", "") or ""))
    if not (folder / "generation_config.json").is_file():
        return None
    from transformers import GenerationConfig

    return GenerationConfig.from_pretrained(str(folder))


def choose_pad_token(tokenizer: Any) -> str:
    """A pad token distinct from every end token (and from bos and unk).

    Padding with an end token (SmolLM2 and many Hub models pad with `<|im_end|>`) would teach a
    model that end-of-turn tokens are noise, and break masks that find the answer's end. Returns
    the current pad token when it is fine, else a reserved one from the vocabulary, else a spare
    special token the chat template never writes, else `ADDED_PAD` (not in the vocabulary yet).
    """
    ends = end_token_ids(tokenizer)
    vocab = tokenizer.get_vocab()
    taken = {*ends, tokenizer.bos_token_id, tokenizer.unk_token_id} - {None}
    current = tokenizer.pad_token
    if current is not None and tokenizer.pad_token_id not in taken:
        return str(current)
    for name in PAD_CANDIDATES:
        if name in vocab and vocab[name] not in taken:
            return name
    template = str(getattr(tokenizer, "chat_template", "") or "")
    decoder = getattr(tokenizer, "added_tokens_decoder", {})
    spare = [
        str(token.content)
        for token_id, token in sorted(decoder.items())
        if token.special and token_id not in taken and str(token.content) not in template
    ]
    return spare[-1] if spare else ADDED_PAD


@dataclass(frozen=True)
class DeviceProfile:
    """What the machine can do, which decides precision and gradient checkpointing."""

    device: str  # "cuda" or "cpu"
    bf16: bool  # the device computes in bfloat16 at full speed

    @property
    def compute_dtype(self) -> torch.dtype:
        """bfloat16 where the device multiplies it at full speed (a GPU that supports it, a CPU
        with AMX or AVX-512 BF16), else float32."""
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
    return DeviceProfile("cpu", bf16=cpu_computes_bf16())


BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_computes_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU multiplies bfloat16 matrices in hardware: AMX tiles (Intel Sapphire Rapids
    and later) or AVX-512 BF16 dot products (Intel Cooper Lake, AMD Zen 4 and later).

    There oneDNN multiplies bf16 faster than fp32 on 2 cores (a 512x576 by 576x1536 product:
    1,819 vs 301 GFLOP/s with AMX, 403 vs 141 with AVX-512 BF16 on a Zen 4 EPYC;
    `benchmarks/cpu_precision.py` compares SmolLM2 end to end). Without either, bf16 on a CPU is
    emulated and slower than fp32.
    """
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    return any(
        line.startswith("flags") and any(flag in line.split() for flag in BF16_CPU_FLAGS)
        for line in text.splitlines()
    )


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


class ModelNotLoadable(NotFoundError):
    """A base model folder or Hub id that cannot be loaded here (offline, typo, not a model)."""

    default_code = "model_not_loadable"


def _not_loadable(name_or_path: str | Path, exc: BaseException) -> ModelNotLoadable:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return ModelNotLoadable(
        f"cannot load the model {str(name_or_path)!r} ({first}); nothing is downloaded here: "
        "pass a local model folder (FINERAG_BASE_MODEL or base_model=DIR), for example one "
        "written by `finerag model smollm2 --out DIR` or `finerag model tiny --out DIR`",
        param="base_model",
    )


def load_tokenizer(name_or_path: str | Path) -> PreTrainedTokenizerBase:
    """The base model's tokenizer, with a pad token distinct from its end tokens."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    except (OSError, ValueError) as exc:
        raise _not_loadable(name_or_path, exc) from exc
    pad = choose_pad_token(tokenizer)
    if pad not in tokenizer.get_vocab():
        raise InvalidRequestError(
            f"the tokenizer of {name_or_path} has no token to pad with that is not an end token; "
            "convert the model with `finerag model from-gguf` or add a pad token to its folder",
            param="base_model",
        )
    tokenizer.pad_token = pad
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
    try:
        return AutoModelForCausalLM.from_pretrained(str(name_or_path), **options)
    except OSError as exc:
        raise _not_loadable(name_or_path, exc) from exc


def dequantizing_4bit_matmul(model: Any) -> int:
    """Make bitsandbytes' 4-bit layers on a CPU dequantize and multiply, as they do in training,
    instead of repacking their weights for bitsandbytes' CPU inference kernel the first time they
    run in eval mode (an AVX512-BF16 CPU). On this machine (SmolLM2-135M, bf16, 8 x 480 tokens)
    that kernel prefilled 633 tokens/s against 2,987 for dequantize + matmul, so the trainer's
    validation-loss pass took longer than the training steps. Returns the layers changed."""
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return 0
    changed = 0
    for module in model.modules():
        if isinstance(module, Linear4bit) and getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
            changed += 1
    return changed


def lora_config(
    r: int = 16,
    alpha: int = 32,
    dropout: float = 0.05,
    target_modules: str | list[str] = "all-linear",
    *,
    model: Any = None,
    layers: int | None = None,
) -> Any:
    """LoRA on every linear layer of the decoder (q, k, v, o, gate, up, down), not the LM head.

    `layers=N` puts the adapters on the last N decoder layers of `model` only: the frozen layers
    below carry no gradient, so the backward pass stops at the lowest adapted layer.
    """
    from peft import LoraConfig

    layers_to_transform = None
    if layers is not None:
        if model is None:
            raise ValueError("lora_config(layers=...) needs the model to count its layers")
        total = int(model.config.get_text_config().num_hidden_layers)
        if not 1 <= layers <= total:
            raise InvalidRequestError(
                f"lora_layers={layers} but the model has {total} decoder layers",
                param="lora_layers",
            )
        layers_to_transform = list(range(total - layers, total))
        if target_modules == "all-linear":  # PEFT needs names to select layers
            target_modules = decoder_linear_names(model)
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        layers_to_transform=layers_to_transform,
        bias="none",
        task_type="CAUSAL_LM",
    )


def decoder_linear_names(model: Any) -> list[str]:
    """The names of the linear layers inside the decoder layers (q_proj, ..., down_proj for
    Llama), as PEFT's `target_modules` takes them; 4-bit linears count too."""
    import torch

    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and ".layers." in f".{name}"
    }
    return sorted(names)
