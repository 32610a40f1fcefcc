"""The engine on the tiny Llama: whole runs submitted at once come back in order, each with its
own budget, and one bad submission does not fail the others."""

from __future__ import annotations

import pytest

from shared.models.generation.engine import Engine, Submission
from shared.models.generation.events import SamplingParams
from tests.unit.gateway.fakes import publish_random_adapter


@pytest.fixture(scope="module")
def engine(random_tiny_model_dir, tmp_path_factory):
    engine = Engine(
        str(random_tiny_model_dir), models_dir=tmp_path_factory.mktemp("models"), max_batch_size=4
    )
    yield engine
    engine.close()


def _prompt(engine: Engine, text: str) -> list[int]:
    return engine.encode_messages([{"role": "user", "content": text}])


def test_a_run_comes_back_in_submission_order_with_each_budget(engine):
    budgets = [1, 5, 2, 9, 3, 7]  # more than one batch, in an order no batching keeps
    submissions = [
        Submission(
            engine.base_model,
            _prompt(engine, f"question {i} " * (i + 1)),
            SamplingParams(budget, temperature=0.0),
        )
        for i, budget in enumerate(budgets)
    ]
    results = engine.complete(submissions)
    assert [r.prompt_tokens for r in results] == [len(s.prompt_ids) for s in submissions]
    for result, budget in zip(results, budgets, strict=True):
        assert result.error is None
        assert 1 <= result.completion_tokens <= budget
        assert result.finish_reason == ("length" if result.completion_tokens == budget else "stop")


def test_an_unknown_adapter_fails_its_own_submissions_only(engine):
    good = Submission(engine.base_model, _prompt(engine, "hi"), SamplingParams(2, 0.0))
    bad = Submission("ft:missing:model", _prompt(engine, "hi"), SamplingParams(2, 0.0))
    results = engine.complete([good, bad, good])
    assert [r.finish_reason == "error" for r in results] == [False, True, False]
    assert results[1].error


def test_a_closed_stream_stops_its_job(engine):
    (stream,) = engine.submit(
        Submission(engine.base_model, _prompt(engine, "count"), SamplingParams(10_000, 0.0))
    )
    job = stream._job
    next(stream)  # generation has started
    stream.close()
    # This one may join the running batch; the cancelled row leaves it at its next token.
    after = engine.complete(
        [Submission(engine.base_model, _prompt(engine, "hi"), SamplingParams(2, 0.0))]
    )
    assert after[0].error is None
    assert job.cancelled.is_set()
    assert job.completion_tokens < 10_000
    with pytest.raises(StopIteration):
        next(stream)


def test_a_run_stopped_by_its_progress_callback_cancels_what_it_had_not_collected(engine):
    submissions = [
        Submission(engine.base_model, _prompt(engine, f"q {i}"), SamplingParams(n, 0.0))
        for i, n in enumerate([1, 10_000, 10_000, 10_000, 10_000, 10_000])
    ]
    streams = []
    real_submit = engine.submit

    def submit(*batch: Submission):
        streams.extend(real_submit(*batch))
        return streams

    def stop() -> None:
        raise KeyboardInterrupt

    engine.submit = submit  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.complete(submissions, on_done=stop)
    finally:
        del engine.submit
    assert all(stream._job.cancelled.is_set() for stream in streams[1:])
    assert not streams[0]._job.cancelled.is_set()
    after = engine.complete(
        [Submission(engine.base_model, _prompt(engine, "hi"), SamplingParams(2, 0.0))]
    )
    assert after[0].error is None
    assert all(stream._job.completion_tokens < 10_000 for stream in streams[1:])


def test_a_run_for_two_models_batches_them_together_with_the_answers_of_separate_batches(
    random_tiny_model_dir, tmp_path, monkeypatch
):
    from transformers import AutoModelForCausalLM

    # In float32: a bf16 base rounds W0 + delta (merged) and W0 x + delta x (rows) apart, and
    # a random model's near-tied tokens flip on that (test_row_adapters checks the arithmetic).
    monkeypatch.setattr("shared.models.loading.cpu_computes_bf16", lambda *_: False)

    base = AutoModelForCausalLM.from_pretrained(random_tiny_model_dir)
    publish_random_adapter(tmp_path, "acme-ft", seed=3, base=base)
    answers, batches = {}, {}
    for mixed in (True, False):
        sizes: list[int] = []
        engine = Engine(
            str(random_tiny_model_dir),
            models_dir=tmp_path,
            max_batch_size=8,
            mixed_batches=mixed,
            on_batch=sizes.append,
        )
        try:
            submissions = [
                Submission(
                    model, _prompt(engine, f"what does plan {i} cost?"), SamplingParams(6, 0.0)
                )
                for i in range(4)
                for model in (engine.base_model, "acme-ft")
            ]
            answers[mixed] = [r.text for r in engine.complete(submissions)]
        finally:
            engine.close()
        batches[mixed] = sizes
    assert batches == {True: [8], False: [4, 4]}  # one batch of both models, or one of each
    assert answers[True] == answers[False]
    assert answers[True][0::2] != answers[True][1::2]  # the adapter changes the answers
