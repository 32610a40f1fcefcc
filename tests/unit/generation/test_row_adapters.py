"""Batches of several models on a small random Llama: each row runs its own adapter beside the
bare base, and rows with one prompt share the layers below the first one an adapter changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shared.models.generation.decoding import GenerationJob, generate_batch
from shared.models.generation.events import Finished, SamplingParams, TextDelta
from shared.models.generation.merged_adapters import MergedAdapters
from shared.models.generation.prefill import MIN_SHARED_PREFIX, prefill
from shared.models.generation.row_adapters import RowModels
from shared.models.generation.stop_text import StopText
from tests.unit.gateway.fakes import micro_llama, publish_random_adapter

PAD, EOS = 0, 1
PROMPTS = [[2, 5, 9, 13], [2, 7], [2, 3, 4, 5, 6, 7, 8, 9, 10], [2, 40, 41]]


def _model():
    return micro_llama(pad_token_id=PAD, bos_token_id=2, eos_token_id=EOS)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    from peft import LoraConfig

    publish_random_adapter(tmp_path, "acme-a", seed=0)
    publish_random_adapter(tmp_path, "acme-b", seed=1)
    top = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], layers_to_transform=[1]
    )
    publish_random_adapter(tmp_path, "acme-top", seed=2, config=top)
    return tmp_path


def _job(prompt: list[int], model: str) -> GenerationJob:
    params = SamplingParams(max_tokens=6, temperature=0.0)
    text = StopText(lambda ids: "".join(chr(65 + i % 26) for i in ids), params.stop)
    return GenerationJob(prompt, params, text, deadline=None, model=model)


def _text(job: GenerationJob) -> str:
    parts = []
    while not isinstance(event := job.events.get(timeout=5), Finished):
        assert isinstance(event, TextDelta), event
        parts.append(event.text)
    return "".join(parts)


def _alone(adapters: MergedAdapters, prompt: list[int], model: str) -> str:
    job = _job(prompt, model)
    with adapters.use(None if model == "base" else model) as merged:
        generate_batch(merged, [job], pad_id=PAD, eos_ids=frozenset({EOS}))
    return _text(job)


def test_each_row_of_a_batch_of_several_models_answers_as_its_model_alone(models_dir: Path):
    adapters = MergedAdapters(_model(), models_dir, capacity=4)
    cases = [(p, m) for p in PROMPTS for m in ("base", "acme-a", "acme-b")]
    alone = [_alone(adapters, p, m) for p, m in cases]
    assert any(len(set(alone[i : i + 3])) > 1 for i in range(0, len(alone), 3))  # models differ
    jobs = [_job(p, m) for p, m in cases]
    with adapters.rows() as (model, row_adapters):
        for job in jobs:
            job.adapter = None if job.model == "base" else adapters.row_adapter(job.model)
        generate_batch(model, jobs, pad_id=PAD, eos_ids=frozenset({EOS}), adapters=row_adapters)
    assert [_text(job) for job in jobs] == alone


def test_the_hooks_come_off_when_the_batch_ends(models_dir: Path):
    base = _model()
    ids = torch.tensor([PROMPTS[0]])
    plain = base(input_ids=ids).logits.detach()
    adapters = MergedAdapters(base, models_dir, capacity=4)
    with adapters.rows() as (model, row_adapters), torch.no_grad():
        row_adapters.assign([adapters.row_adapter("acme-a")])
        assert not torch.allclose(model(input_ids=ids).logits, plain)
    with torch.no_grad():
        assert torch.equal(base(input_ids=ids).logits, plain)


def _rows_per_layer(model) -> tuple[list[int], list]:
    seen: list[int] = []
    hooks = [
        layer.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[0]))
        for layer in model.model.layers
    ]
    return seen, hooks


@torch.inference_mode()
def test_rows_with_one_prompt_share_the_layers_below_the_first_adapted_one(models_dir: Path):
    adapters = MergedAdapters(_model(), models_dir, capacity=4)
    top = adapters.row_adapter("acme-top")
    assert top.first_layer == 1
    assert adapters.row_adapter("acme-a").first_layer == 0
    prompts = [PROMPTS[2], PROMPTS[2], PROMPTS[0], PROMPTS[0]]
    with adapters.rows() as (model, row_adapters):
        models = RowModels(row_adapters, [top, None, None, top])
        whole = prefill(model, prompts, PAD, 4, share_stem=False, models=models)
        seen, hooks = _rows_per_layer(model)
        shared = prefill(model, prompts, PAD, 4, models=models)
        for hook in hooks:
            hook.remove()
    assert seen == [2, 4]  # layer 0 ran once per distinct prompt, layer 1 once per row
    assert torch.allclose(shared[0], whole[0], atol=1e-5)
    assert not torch.allclose(shared[0][0], shared[0][1])  # the adapter changed layer 1
    for done, reference in zip(shared[3].layers, whole[3].layers, strict=True):
        assert torch.allclose(done.keys, reference.keys, atol=1e-5)
        assert torch.allclose(done.values, reference.values, atol=1e-5)


@torch.inference_mode()
def test_a_shared_prefix_is_prefilled_for_each_model_of_the_batch(models_dir: Path):
    prefix = [2, *range(10, 10 + MIN_SHARED_PREFIX)]
    prompts = [[*prefix, 5, 6], [*prefix, 5, 6], [*prefix, 7], [*prefix, 8, 9, 3]]
    adapters = MergedAdapters(_model(), models_dir, capacity=4)
    names = ["acme-a", None, "acme-b", "acme-a"]
    alone = []
    for prompt, name in zip(prompts, names, strict=True):
        with adapters.use(name) as merged:
            alone.append(prefill(merged, [prompt], PAD, 4)[0][0])
    with adapters.rows() as (model, row_adapters):
        rows = [None if n is None else adapters.row_adapter(n) for n in names]
        logits = prefill(model, prompts, PAD, 4, models=RowModels(row_adapters, rows))[0]
    assert torch.allclose(logits, torch.stack(alone), atol=1e-5)
    assert not torch.allclose(logits[0], logits[1])  # same prompt, another model


@torch.inference_mode()
def test_rows_of_one_model_with_one_prompt_share_every_layer():
    model = _model()
    prompts = [PROMPTS[1], PROMPTS[3], PROMPTS[1]]
    whole = prefill(model, prompts, PAD, 4, share_stem=False)
    seen, hooks = _rows_per_layer(model)
    shared = prefill(model, prompts, PAD, 4)
    for hook in hooks:
        hook.remove()
    assert seen == [2, 2]
    assert torch.allclose(shared[0], whole[0], atol=1e-5)
    assert torch.equal(shared[0][0], shared[0][2])
