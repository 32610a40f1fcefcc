"""Dynamic, continuous batching: requests for the same model are generated together.

One worker thread owns the model. The oldest waiting request opens a batch; requests for the
same model join it until the batch is full or the wait window since the opener has passed.
While the batch decodes, requests for its model keep joining the rows that finished
(`take_more`), as long as no request for another model arrived before them: a request for
another adapter waits at most until the running batch drains (one adapter is active per forward
pass), and never behind a request that came after it.
With `max_batch_size=1` and no window this is plain one-at-a-time generation.

With `mix_models`, a batch opens with requests for several models when they wait together
(model None: the run_batch can hold rows of several models, `row_adapters`), and takes any
model's waiting requests as its rows finish; a batch that opens with one model is as above.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

log = logging.getLogger("finerag.generation.batching")

JobT = TypeVar("JobT")


@dataclass
class _Waiting(Generic[JobT]):
    model: str
    job: JobT
    enqueued: float


@dataclass
class BatchQueue(Generic[JobT]):
    """The waiting requests and the rule that picks the next batch (no threads here)."""

    max_batch_size: int
    wait_window_s: float
    mix_models: bool = False
    waiting: list[_Waiting[JobT]] = field(default_factory=list)

    def add(self, model: str, job: JobT, now: float) -> None:
        """Queue a job for `model`."""
        self.waiting.append(_Waiting(model, job, now))

    def take(self, now: float) -> tuple[str | None, list[JobT]] | float | None:
        """The next batch (its model, None for several), or how long to wait for it to fill,
        or None when nothing waits."""
        if not self.waiting:
            return None
        opener = self.waiting[0]
        head = self.waiting[: self.max_batch_size]
        mixed = self.mix_models and any(w.model != opener.model for w in head)
        batch = head if mixed else [w for w in self.waiting if w.model == opener.model]
        batch = batch[: self.max_batch_size]
        remaining = opener.enqueued + self.wait_window_s - now
        if len(batch) < self.max_batch_size and remaining > 0:
            return remaining
        self._remove(batch)
        return None if mixed else opener.model, [w.job for w in batch]

    def take_more(self, model: str | None, limit: int) -> list[JobT]:
        """Up to `limit` waiting jobs to join a running batch: for a batch of several models
        (`model` None) the oldest of any model; for one of `model`, its jobs that arrived no
        later than every job waiting for another model, so no request waits behind one that
        came after it (nor behind an endless batch). Jobs submitted together (a whole
        evaluation run) arrive together, so each model's share of them batches continuously."""
        if limit <= 0:
            return []
        if model is None:
            batch = self.waiting[:limit]
        else:
            others = [w.enqueued for w in self.waiting if w.model != model]
            cutoff = min(others, default=float("inf"))
            batch = [w for w in self.waiting if w.model == model and w.enqueued <= cutoff]
            batch = batch[:limit]
        self._remove(batch)
        return [w.job for w in batch]

    def _remove(self, batch: list[_Waiting[JobT]]) -> None:
        taken = {id(w) for w in batch}
        self.waiting = [w for w in self.waiting if id(w) not in taken]

    def __len__(self) -> int:
        return len(self.waiting)


# run_batch(model, jobs, take_more): take_more(n) hands over up to n more jobs for the model
# (model None: a batch of several models, any model's jobs).
RunBatch = Callable[[str | None, list[JobT], Callable[[int], list[JobT]]], None]


class BatchScheduler(Generic[JobT]):
    """Feeds batches from a `BatchQueue` to `run_batch` on one worker thread."""

    def __init__(
        self,
        run_batch: RunBatch[JobT],
        *,
        max_batch_size: int,
        wait_window_s: float,
        mix_models: bool = False,
        on_queue_depth: Callable[[int], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._queue: BatchQueue[JobT] = BatchQueue(max_batch_size, wait_window_s, mix_models)
        self._cond = threading.Condition()
        self._closed = False
        self._on_queue_depth = on_queue_depth or (lambda _n: None)
        self._on_batch = on_batch or (lambda _n: None)
        self._thread = threading.Thread(target=self._loop, name="batch-scheduler", daemon=True)
        self._thread.start()

    def submit(self, model: str, job: JobT) -> None:
        """Queue a job; `run_batch` will receive it with others for the same model."""
        self.submit_many([(model, job)])

    def submit_many(self, jobs: Sequence[tuple[str, JobT]]) -> None:
        """Queue several jobs at once: the worker sees all of them when it picks a batch."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the batch scheduler is closed")
            now = time.monotonic()
            for model, job in jobs:
                self._queue.add(model, job, now)
            self._on_queue_depth(len(self._queue))
            self._cond.notify()

    def take_more(self, model: str | None, limit: int) -> list[JobT]:
        """Jobs for `model` (None: any) to join the running batch (`BatchQueue.take_more`)."""
        with self._cond:
            if self._closed:
                return []
            jobs = self._queue.take_more(model, limit)
            if jobs:
                self._on_queue_depth(len(self._queue))
            return jobs

    def close(self) -> None:
        """Stop the worker after the batch in progress."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)

    def _next(self) -> tuple[str | None, list[JobT]] | None:
        with self._cond:
            while not self._closed:
                picked = self._queue.take(time.monotonic())
                if isinstance(picked, tuple):
                    self._on_queue_depth(len(self._queue))
                    return picked
                self._cond.wait(timeout=picked)
            return None

    def _loop(self) -> None:
        while (picked := self._next()) is not None:
            model, jobs = picked
            self._on_batch(len(jobs))
            try:
                self._run_batch(model, jobs, partial(self.take_more, model))
            except Exception:  # the jobs are told by run_batch; the worker must live on
                log.exception("batch for %s failed", model)
