"""Batched decoding on a small random Llama: left padding, seeds, stops, cancellation."""

from __future__ import annotations

import pytest
import torch

from shared.contracts.errors import ServiceUnavailableError
from shared.models.generation.decoding import GenerationJob, generate_batch, sample_tokens
from shared.models.generation.events import Finished, SamplingParams, TextDelta
from shared.models.generation.prefill import MIN_SHARED_PREFIX, prefill, shared_prefix_length
from shared.models.generation.stop_text import StopText
from tests.unit.gateway.fakes import micro_llama

PAD, EOS = 0, 1


@pytest.fixture(scope="module")
def model():
    return micro_llama(pad_token_id=PAD, bos_token_id=2, eos_token_id=EOS)


def _decode(ids):
    return "".join(chr(65 + (i % 26)) for i in ids)


def _job(prompt, **params) -> GenerationJob:
    params.setdefault("max_tokens", 6)
    sampling = SamplingParams(**params)
    return GenerationJob(prompt, sampling, StopText(_decode, sampling.stop), deadline=None)


def _drain(job: GenerationJob) -> tuple[str, Finished]:
    text = []
    while True:
        event = job.events.get(timeout=5)
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Finished):
            return "".join(text), event
        else:
            raise event


def _run(model, jobs):
    generate_batch(model, jobs, pad_id=PAD, eos_ids=frozenset({EOS}))
    return [_drain(job) for job in jobs]


PROMPTS = [[2, 5, 9, 13], [2, 7], [2, 3, 4, 5, 6, 7, 8, 9, 10], [2, 40, 41]]


def test_a_batch_answers_each_prompt_as_it_would_alone(model):
    alone = [_run(model, [_job(p, temperature=0)])[0] for p in PROMPTS]
    together = _run(model, [_job(p, temperature=0) for p in PROMPTS])
    assert together == alone
    assert len({text for text, _ in alone}) > 1


def test_a_seed_fixes_sampling_in_and_out_of_a_batch(model):
    alone = _run(model, [_job(PROMPTS[0], temperature=1.0, seed=5, max_tokens=12)])[0]
    batch = _run(
        model,
        [
            _job(PROMPTS[1], temperature=1.0, seed=1),
            _job(PROMPTS[0], temperature=1.0, seed=5, max_tokens=12),
        ],
    )
    assert batch[1] == alone
    other = _run(model, [_job(PROMPTS[0], temperature=1.0, seed=6, max_tokens=12)])[0]
    assert other[0] != alone[0]


def test_max_tokens_and_usage(model):
    ((_text, finished),) = _run(model, [_job(PROMPTS[2], temperature=0, max_tokens=3)])
    assert finished.prompt_tokens == len(PROMPTS[2])
    assert finished.completion_tokens <= 3
    assert finished.reason == ("length" if finished.completion_tokens == 3 else "stop")


def test_stop_sequence_ends_a_row_early(model):
    full, _ = _run(model, [_job(PROMPTS[0], temperature=0, max_tokens=8)])[0]
    stop = full[3:5]
    text, finished = _run(model, [_job(PROMPTS[0], temperature=0, max_tokens=8, stop=(stop,))])[0]
    assert finished.reason == "stop"
    assert text == full[: full.index(stop)]


def test_cancelled_rows_get_nothing_and_others_finish(model):
    gone, kept = _job(PROMPTS[0], temperature=0), _job(PROMPTS[1], temperature=0)
    gone.cancel()
    generate_batch(model, [gone, kept], pad_id=PAD, eos_ids=frozenset({EOS}))
    assert gone.events.empty()
    assert _drain(kept)[1].completion_tokens > 0


def test_a_passed_deadline_is_a_timeout_error(model):
    late = GenerationJob(PROMPTS[0], SamplingParams(4), StopText(_decode), deadline=0.0)
    generate_batch(model, [late], pad_id=PAD, eos_ids=frozenset({EOS}), clock=lambda: 1.0)
    error = late.events.get(timeout=1)
    assert getattr(error, "code", None) == "request_timeout"


def test_an_answer_not_streamed_comes_in_one_piece_with_the_same_text(model):
    streamed = _job(PROMPTS[0], temperature=0, max_tokens=8)
    sampling = SamplingParams(8, temperature=0)
    whole = GenerationJob(
        PROMPTS[0], sampling, StopText(_decode, sampling.stop), deadline=None, stream=False
    )
    generate_batch(model, [streamed, whole], pad_id=PAD, eos_ids=frozenset({EOS}))
    events = [whole.events.get(timeout=5) for _ in range(whole.events.qsize())]
    assert [type(e) for e in events] == [TextDelta, Finished]
    assert (events[0].text, events[1]) == _drain(streamed)


def _feeder(waiting: list[GenerationJob], asked: list[int]):
    """A `take_more` that hands over the waiting jobs, recording how many rows were free."""

    def take_more(free: int) -> list[GenerationJob]:
        asked.append(free)
        taken, waiting[:] = waiting[:free], waiting[free:]
        return taken

    return take_more


def test_rows_that_finish_are_refilled_and_every_answer_is_as_alone(model):
    """Continuous batching: jobs join a running batch as rows finish (prompts longer and
    shorter than the batch's columns, and after every row finished), each answered as alone."""
    specs = [
        (PROMPTS[1], 2),
        (PROMPTS[0], 12),
        (PROMPTS[2], 3),
        (PROMPTS[3], 5),
        ([2, *range(30, 50)], 4),  # longer than any column the batch has yet
        (PROMPTS[1], 9),
        (PROMPTS[0], 1),
    ]
    alone = [_run(model, [_job(p, temperature=0, max_tokens=n)])[0] for p, n in specs]
    jobs = [_job(p, temperature=0, max_tokens=n) for p, n in specs]
    waiting, asked = jobs[2:], list[int]()
    generate_batch(
        model,
        jobs[:2],
        pad_id=PAD,
        eos_ids=frozenset({EOS}),
        take_more=_feeder(waiting, asked),
        max_rows=2,
    )
    assert not waiting
    assert len(asked) > 2  # the rows were refilled one finished answer at a time
    assert [_drain(job) for job in jobs] == alone


def test_a_batch_asks_for_more_only_when_a_quarter_of_its_rows_are_free(model):
    asked: list[int] = []
    jobs = [_job(PROMPTS[i % 4], temperature=0, max_tokens=1 + i) for i in range(8)]
    generate_batch(
        model, jobs, pad_id=PAD, eos_ids=frozenset({EOS}), take_more=_feeder([], asked), max_rows=8
    )
    assert asked
    assert min(asked) >= 2
    assert all(_drain(job)[1].completion_tokens > 0 for job in jobs)


def test_a_failure_mid_batch_reaches_the_jobs_that_joined_it(model):
    class Broken(torch.nn.Module):
        """Fails on the first decoding step, after the prefill."""

        def __init__(self) -> None:
            super().__init__()
            self.inner, self.calls = model, 0

        @property
        def device(self) -> torch.device:
            return self.inner.device

        @property
        def config(self):
            return self.inner.config

        def forward(self, **kwargs):
            self.calls += 1
            if self.calls > 2:
                raise RuntimeError("boom")
            return self.inner(**kwargs)

    first, joining = _job(PROMPTS[0], max_tokens=1, temperature=0), _job(PROMPTS[1], temperature=0)
    generate_batch(
        Broken(),
        [first],
        pad_id=PAD,
        eos_ids=frozenset({EOS}),
        take_more=_feeder([joining], []),
        max_rows=1,
    )
    assert _drain(first)[1].completion_tokens == 1
    with pytest.raises(ServiceUnavailableError):
        _drain(joining)
    assert joining.ended


def test_top_p_keeps_only_the_head_of_the_distribution():
    logits = torch.tensor([[5.0, 4.9, 3.0, -10.0]])  # token 2 has about 7% of the mass
    generator = torch.Generator().manual_seed(0)

    def picks(top_p: float) -> set[int]:
        params = [SamplingParams(1, temperature=1.0, top_p=top_p)]
        return {sample_tokens(logits, params, [generator])[0] for _ in range(200)}

    assert picks(0.9) == {0, 1}
    assert picks(1.0) == {0, 1, 2}
    assert sample_tokens(logits, [SamplingParams(1, temperature=0)], [generator]) == [0]


def test_rows_sample_independently_of_their_neighbours():
    logits = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    params = [SamplingParams(1, temperature=1.0, seed=s) for s in (1, 2, 3)]

    def generators() -> list[torch.Generator]:
        return [torch.Generator().manual_seed(p.seed or 0) for p in params]

    together = sample_tokens(logits, params, generators())
    alone = sample_tokens(logits[1:2], params[1:2], generators()[1:2])
    assert together[1] == alone[0]
    mixed = sample_tokens(
        logits, [params[0], SamplingParams(1, temperature=0), params[2]], generators()
    )
    assert mixed[1] == int(torch.argmax(logits[1]))
    assert [mixed[0], mixed[2]] == [together[0], together[2]]


def test_the_reserved_cache_gives_the_logits_of_transformers_dynamic_cache():
    """Prefill, decode, drop a row, grow past the reserve: the same logits as `DynamicCache`."""
    from transformers import DynamicCache

    from shared.models.generation.kv_cache import reserved_cache

    model = micro_llama()
    ids = torch.randint(
        2, model.config.vocab_size, (3, 7), generator=torch.Generator().manual_seed(0)
    )
    caches = [DynamicCache(), reserved_cache(model, capacity=9)]  # 7 + 2: the third step grows
    logits = []
    with torch.inference_mode():
        for cache in caches:
            steps = [model(input_ids=ids, cache=cache).logits[:, -1]]
            tokens = steps[-1].argmax(-1, keepdim=True)
            for step in range(4):
                if step == 1:
                    cache.batch_select_indices(torch.tensor([0, 2]))
                    tokens = tokens[[0, 2]]
                steps.append(model(input_ids=tokens, cache=cache).logits[:, -1])
                tokens = steps[-1].argmax(-1, keepdim=True)
            assert cache.get_seq_length() == 11
            logits.append(steps)
    for dynamic, reserved in zip(*logits, strict=True):
        assert torch.allclose(dynamic, reserved, atol=1e-6)


def test_shared_prefix_length_leaves_every_prompt_a_token_of_its_own():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 9], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[5, 2], [1, 2]]) == 0
    assert shared_prefix_length([[1, 2, 3]]) == 0  # alone: nothing to share


def test_prompts_with_a_shared_prefix_decode_as_each_would_alone(model):
    """A system turn of 24 tokens, prefilled once for the batch: the same greedy answers and
    the same next-token logits as each prompt prefilled whole."""
    prefix = [2, *range(10, 33)]
    prompts = [prefix + tail for tail in ([40, 41, 42], [50], [54, 55, 56, 57, 58, 59], [60, 61])]
    assert shared_prefix_length(prompts) >= MIN_SHARED_PREFIX
    alone = [_run(model, [_job(p, temperature=0, max_tokens=8)])[0] for p in prompts]
    together = _run(model, [_job(p, temperature=0, max_tokens=8) for p in prompts])
    assert together == alone
    assert len({text for text, _ in alone}) > 1

    with torch.inference_mode():
        whole, _, _, _ = prefill(model, prompts, PAD, max_tokens=4, share_prefix=False)
        split, mask, positions, _ = prefill(model, prompts, PAD, max_tokens=4)
    assert torch.allclose(whole, split, atol=1e-5)
    assert mask.shape[1] == len(prefix) + 6  # [prefix][pads][remainder]
    assert positions[:, -1].tolist() == [len(p) - 1 for p in prompts]
