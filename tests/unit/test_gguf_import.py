"""GGUF files become Hugging Face folders; end and pad tokens come from the model, any template."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.contracts.errors import InvalidRequestError, NotFoundError


def _write_gguf(path: Path, architecture: str) -> Path:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_tensor("x", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    from finerag.gguf_import import convert_gguf

    bad = tmp_path / "model.gguf"
    bad.write_text("not a model")
    with pytest.raises(InvalidRequestError, match="is not a GGUF file"):
        convert_gguf(bad, tmp_path / "out")
    with pytest.raises(NotFoundError, match="no such file"):
        convert_gguf(tmp_path / "missing.gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_architecture_transformers_cannot_read_is_named(tmp_path: Path) -> None:
    from finerag.gguf_import import convert_gguf

    odd = _write_gguf(tmp_path / "odd.gguf", "nosucharch")
    with pytest.raises(InvalidRequestError, match="nosucharch is not supported"):
        convert_gguf(odd, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*"))  # nothing half-written


@pytest.mark.slow
def test_smollm2_converts_to_a_folder_that_loads_like_a_hub_checkpoint(smollm2_dir: Path) -> None:
    import json

    import torch
    from transformers import AutoModelForCausalLM

    from shared.contracts.prompts import render_prompt
    from shared.models.loading import end_token_ids, load_tokenizer

    card = json.loads((smollm2_dir / "finerag_model.json").read_text())
    assert card["architecture"] == "LlamaForCausalLM"
    assert 130_000_000 < card["parameters"] < 140_000_000
    tokenizer = load_tokenizer(smollm2_dir)
    ends = end_token_ids(tokenizer)
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in ends
    assert tokenizer.pad_token_id not in ends
    assert tokenizer.pad_token != tokenizer.eos_token

    model = AutoModelForCausalLM.from_pretrained(str(smollm2_dir))
    assert getattr(model.config, "quantization_config", None) is None  # plain float weights
    prompt = render_prompt(
        tokenizer, [{"role": "user", "content": "What is the capital of France? One word."}]
    )
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model.generate(
            ids, max_new_tokens=16, do_sample=False, eos_token_id=sorted(ends),
            pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
    answer = out[0, ids.shape[1] :].tolist()
    assert answer[-1] in ends  # a real instruct model ends its turn
    assert "paris" in tokenizer.decode(answer, skip_special_tokens=True).lower()


def test_end_and_pad_tokens_follow_the_llama_template(random_tiny_model_dir: Path) -> None:
    from shared.models.loading import (
        choose_pad_token,
        end_token_ids,
        load_tokenizer,
        turn_end_token_ids,
    )

    tokenizer = load_tokenizer(random_tiny_model_dir)
    ids = tokenizer.convert_tokens_to_ids
    assert turn_end_token_ids(tokenizer) == [ids("<|eot_id|>")]
    assert end_token_ids(tokenizer) == {
        ids(t) for t in ("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>")
    }
    assert choose_pad_token(tokenizer) == "<|finetune_right_pad_id|>"


@pytest.mark.slow
def test_a_pad_token_equal_to_the_end_of_turn_is_replaced(smollm2_dir: Path) -> None:
    from transformers import AutoTokenizer

    from shared.models.loading import choose_pad_token, end_token_ids, turn_end_token_ids

    raw = AutoTokenizer.from_pretrained(str(smollm2_dir))
    raw.pad_token = "<|im_end|>"  # how SmolLM2 ships on the Hub
    assert turn_end_token_ids(raw) == [raw.convert_tokens_to_ids("<|im_end|>")]
    pad = choose_pad_token(raw)
    assert raw.convert_tokens_to_ids(pad) not in end_token_ids(raw)
    assert pad not in (raw.bos_token, raw.unk_token)


def test_a_model_that_cannot_be_loaded_offline_says_what_to_pass(tmp_path: Path) -> None:
    from shared.models.loading import ModelNotLoadable, load_tokenizer

    with pytest.raises(ModelNotLoadable, match="finerag model smollm2"):
        load_tokenizer(tmp_path / "no-model-here")
