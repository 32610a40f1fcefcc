"""The batching rule (pure) and the scheduler thread that applies it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from shared.models.generation.batching import BatchQueue, BatchScheduler


def test_a_full_batch_leaves_at_once():
    queue: BatchQueue[int] = BatchQueue(max_batch_size=3, wait_window_s=10.0)
    for job in range(3):
        queue.add("m", job, now=0.0)
    assert queue.take(now=0.0) == ("m", [0, 1, 2])
    assert queue.take(now=0.0) is None


def test_a_partial_batch_waits_for_the_window_of_its_opener():
    queue: BatchQueue[int] = BatchQueue(max_batch_size=4, wait_window_s=0.5)
    queue.add("m", 1, now=0.0)
    queue.add("m", 2, now=0.3)
    assert queue.take(now=0.3) == 0.2  # seconds left in the opener's window
    assert queue.take(now=0.5) == ("m", [1, 2])


def test_batches_hold_one_model_and_keep_arrival_order():
    queue: BatchQueue[str] = BatchQueue(max_batch_size=2, wait_window_s=0.0)
    for job, model in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("a3", "a"), ("b2", "b")):
        queue.add(model, job, now=0.0)
    batches = []
    while (picked := queue.take(now=1.0)) is not None:
        batches.append(picked)
    assert batches == [("a", ["a1", "a2"]), ("b", ["b1", "b2"]), ("a", ["a3"])]


def test_a_running_batch_takes_more_of_its_model_only_of_jobs_older_than_any_other_models():
    queue: BatchQueue[str] = BatchQueue(max_batch_size=4, wait_window_s=0.0)
    for at, (job, model) in enumerate((("a1", "a"), ("a2", "a"), ("b1", "b"), ("a3", "a"))):
        queue.add(model, job, now=float(at))
    assert queue.take_more("a", 0) == []
    assert queue.take_more("a", 1) == ["a1"]
    assert queue.take_more("b", 4) == []  # a2 has waited longer than b1
    assert queue.take_more("a", 4) == ["a2"]  # a3 came after b1: a's batch drains
    assert queue.take_more("a", 4) == []
    assert queue.take(now=3.0) == ("b", ["b1"])
    assert queue.take_more("b", 4) == []
    assert queue.take(now=3.0) == ("a", ["a3"])


def test_jobs_submitted_together_join_their_models_running_batch_whatever_their_order():
    queue: BatchQueue[str] = BatchQueue(max_batch_size=2, wait_window_s=0.0)
    for job, model in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b"), ("a3", "a")):
        queue.add(model, job, now=0.0)  # one evaluation run, interleaving two models
    assert queue.take(now=0.0) == ("a", ["a1", "a2"])
    assert queue.take_more("a", 4) == ["a3"]
    assert queue.take(now=0.0) == ("b", ["b1", "b2"])


def test_requests_for_several_models_that_wait_together_open_one_batch_when_mixing():
    queue: BatchQueue[str] = BatchQueue(max_batch_size=3, wait_window_s=0.0, mix_models=True)
    for job, model in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c"), ("a3", "a")):
        queue.add(model, job, now=0.0)
    assert queue.take(now=0.0) == (None, ["a1", "b1", "a2"])  # None: several models
    assert queue.take_more(None, 1) == ["c1"]  # any model's, oldest first
    assert queue.take(now=0.0) == ("a", ["a3"])  # one model waits: a batch of one model
    queue.add("a", "a4", now=1.0)
    queue.add("b", "b2", now=1.0)
    assert queue.take_more("a", 4) == ["a4"]  # a batch of one model takes only its own


def test_the_scheduler_hands_a_running_batch_the_jobs_that_arrive_meanwhile():
    started, release, done = threading.Event(), threading.Event(), threading.Event()
    joined: list[int] = []

    def run(_model: str, jobs: list[int], take_more: Callable[[int], list[int]]) -> None:
        started.set()
        assert release.wait(10)
        joined.extend(take_more(8))
        done.set()

    scheduler: BatchScheduler[int] = BatchScheduler(run, max_batch_size=8, wait_window_s=0.0)
    try:
        scheduler.submit("m", 0)
        assert started.wait(10)
        scheduler.submit_many([("m", 1), ("m", 2)])
        release.set()
        assert done.wait(10)
    finally:
        scheduler.close()
    assert joined == [1, 2]


def test_without_batching_each_request_runs_alone():
    queue: BatchQueue[int] = BatchQueue(max_batch_size=1, wait_window_s=0.0)
    for job in range(3):
        queue.add("m", job, now=0.0)
    assert [queue.take(now=0.0) for _ in range(3)] == [("m", [0]), ("m", [1]), ("m", [2])]


def test_scheduler_runs_full_batches_on_its_thread_and_reports_sizes():
    done = threading.Event()
    batches: list[tuple[str, list[int]]] = []
    sizes: list[int] = []

    def run(model: str, jobs: list[int], _take_more: object) -> None:
        batches.append((model, jobs))
        if sum(len(j) for _, j in batches) == 8:
            done.set()

    # A long window: batches leave because they are full, not because time passed.
    scheduler: BatchScheduler[int] = BatchScheduler(
        run, max_batch_size=4, wait_window_s=30.0, on_batch=sizes.append
    )
    try:
        for job in range(8):
            scheduler.submit("m", job)
        assert done.wait(10)
    finally:
        scheduler.close()
    assert batches == [("m", [0, 1, 2, 3]), ("m", [4, 5, 6, 7])]
    assert sizes == [4, 4]


def test_a_failing_batch_does_not_stop_the_worker():
    seen: list[list[int]] = []
    done = threading.Event()

    def run(_model: str, jobs: list[int], _take_more: object) -> None:
        seen.append(jobs)
        if jobs == [0]:
            raise RuntimeError("boom")
        done.set()

    scheduler: BatchScheduler[int] = BatchScheduler(run, max_batch_size=1, wait_window_s=0.0)
    try:
        scheduler.submit("m", 0)
        scheduler.submit("m", 1)
        assert done.wait(10)
    finally:
        scheduler.close()
    assert seen == [[0], [1]]
