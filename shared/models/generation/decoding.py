"""Batched token generation: left-padded prompts, one KV cache, per-request sampling and stops.

Each row keeps its own sampling parameters and its own seeded random generator, so a request
with a seed samples the same tokens whether it runs alone or beside others (up to the float
rounding that padding brings). Rows that finish (end token, stop sequence, max_tokens, client
gone, deadline) leave the batch, so the rest run on a smaller one.

A batch may hold rows of several models (the base and its adapters, `row_adapters`): before
each forward pass every row is told its adapter. How a batch's prompts are prefilled, and what
they share, is `prefill`'s.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from shared.contracts.errors import FineRAGError, ServiceUnavailableError
from shared.models.generation.events import Finished, GenerationEvent, SamplingParams, TextDelta
from shared.models.generation.kv_cache import ReservedLayer, merge_rows
from shared.models.generation.prefill import prefill
from shared.models.generation.row_adapters import RowAdapter, RowAdapters, RowModels
from shared.models.generation.stop_text import StopText

log = logging.getLogger("finerag.generation.decoding")

JobEvent = GenerationEvent | FineRAGError


class GenerationJob:
    """One request inside the batch loop; events go to the request thread through a queue."""

    def __init__(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        stop_text: StopText,
        deadline: float | None,
        *,
        stream: bool = True,
        model: str = "",
    ) -> None:
        self.prompt_ids = prompt_ids
        self.stream = stream  # False: the text goes out whole with the end
        self.model = model  # the model's name, as the request gave it
        self.adapter: RowAdapter | None = None  # its adapter, in a batch of several models
        self.params = params
        self.stop_text = stop_text
        self.deadline = deadline
        self.events: queue.Queue[JobEvent] = queue.Queue()
        self.cancelled = threading.Event()
        self.completion_tokens = 0
        self.ended = False  # its last event (the end or an error) is sent
        seed = params.generator_seed()
        self.seed = seed if seed is not None else random.getrandbits(62)

    def cancel(self) -> None:
        """The client is gone or gave up: stop generating for it."""
        self.cancelled.set()

    def fail(self, error: FineRAGError) -> None:
        """End the job with `error`."""
        self.ended = True
        self.events.put(error)

    def finish(self, reason: str) -> None:
        """Send what was held back and the end event."""
        self.ended = True
        tail = self.stop_text.flush()
        text = tail if self.stream else self.stop_text.text
        if text:
            self.events.put(TextDelta(text))
        self.events.put(
            Finished(
                "stop" if reason == "stop" else "length",
                prompt_tokens=len(self.prompt_ids),
                completion_tokens=self.completion_tokens,
            )
        )


def sample_tokens(
    logits: torch.Tensor,
    params: Sequence[SamplingParams],
    generators: Sequence[torch.Generator],
) -> list[int]:
    """Pick the next token of every row at once: greedy at temperature 0, else top-p.

    Each sampled row draws one uniform number from its own generator and inverts its own
    distribution's CDF with it, so a row's token depends only on its logits and its seed.
    """
    greedy = torch.argmax(logits, dim=-1)
    sampled_rows = [i for i, p in enumerate(params) if p.temperature > 0]
    if not sampled_rows:
        return [int(t) for t in greedy.tolist()]
    rows = torch.tensor(sampled_rows, device=logits.device)
    temperature = torch.tensor(
        [params[i].temperature for i in sampled_rows], device=logits.device
    ).unsqueeze(-1)
    probs = torch.softmax(logits[rows].float() / temperature, dim=-1)
    top_p = torch.tensor([params[i].top_p for i in sampled_rows], device=logits.device)
    if bool((top_p < 1.0).any()):
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        # Keep the smallest head whose mass reaches top_p (the best token always stays).
        sorted_probs[(cumulative - sorted_probs) > top_p.unsqueeze(-1)] = 0.0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    cdf = torch.cumsum(probs, dim=-1)
    uniform = torch.cat(
        [torch.rand(1, generator=generators[i], device=generators[i].device) for i in sampled_rows]
    ).to(cdf.device)
    picks = torch.searchsorted(cdf, (uniform * cdf[:, -1]).unsqueeze(-1)).squeeze(-1)
    picks = picks.clamp(max=logits.shape[-1] - 1)
    tokens = greedy.clone()
    tokens[rows] = picks
    return [int(t) for t in tokens.tolist()]


def _row_done(job: GenerationJob, token: int, eos_ids: frozenset[int]) -> str | None:
    """Feed one sampled token to its job; the finish reason when the row is done."""
    job.completion_tokens += 1
    if token in eos_ids:
        return "stop"
    delta = job.stop_text.push(token)
    if delta and job.stream:
        job.events.put(TextDelta(delta))
    if job.stop_text.stopped:
        return "stop"
    if job.completion_tokens >= job.params.max_tokens:
        return "length"
    return None


TakeMore = Callable[[int], Sequence[GenerationJob]]


def generate_batch(
    model: Any,
    jobs: Sequence[GenerationJob],
    *,
    pad_id: int,
    eos_ids: frozenset[int],
    clock: Callable[[], float] = time.monotonic,
    take_more: TakeMore | None = None,
    max_rows: int = 0,
    adapters: RowAdapters | None = None,
) -> None:
    """Generate for every job at once; each job receives its own events. Never raises.

    With `adapters`, the batch may hold rows of several models: each row runs its job's
    `adapter` (None: the bare base).

    With `take_more`, rows that finish are refilled while the batch runs (continuous
    batching): `take_more(n)` hands over up to n waiting jobs, asked whenever a quarter of the
    `max_rows` rows are free, so a short answer's row does not idle until the longest is done.
    """
    taken = [job for job in jobs if not job.cancelled.is_set()]

    def joining(free: int) -> list[GenerationJob]:
        if take_more is None or free < max(1, max_rows // 4):
            return []
        more = [job for job in take_more(free) if not job.cancelled.is_set()]
        taken.extend(more)
        return more

    if not taken:
        return
    try:
        _decode(
            _Batch(model, adapters, pad_id),
            list(taken),
            joining,
            max_rows,
            eos_ids=eos_ids,
            clock=clock,
        )
    except Exception:
        log.exception("generation failed")
        for job in taken:
            if not job.ended:
                job.fail(ServiceUnavailableError("Generation failed; try again."))


@dataclass(frozen=True)
class _Batch:
    """What every forward pass of a batch runs on: the model, the row adapters when its rows
    may be of several models, and the padding token."""

    model: Any
    adapters: RowAdapters | None
    pad_id: int

    def forward(self, jobs: Sequence[GenerationJob], **inputs: Any) -> Any:
        """The model over `inputs`, row i running `jobs[i]`'s adapter."""
        if self.adapters is not None:
            self.adapters.assign([job.adapter for job in jobs])
        return self.model(**inputs)

    def prefill(
        self, jobs: Sequence[GenerationJob], room: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]:
        """`prefill` of the jobs' prompts, each row running its job's adapter."""
        models = None
        if self.adapters is not None:
            models = RowModels(self.adapters, [job.adapter for job in jobs])
        prompts = [job.prompt_ids for job in jobs]
        return prefill(self.model, prompts, self.pad_id, room, models=models)


class _Rows:
    """The rows a batch decodes: each one's job and random generator, the attention mask over
    the cache's columns, each row's next position, the cache, and the logits of the next token."""

    def __init__(self, batch: _Batch, jobs: list[GenerationJob], room: int) -> None:
        if batch.adapters is not None:  # each model's rows together: its adapter runs on a view
            jobs = sorted(jobs, key=lambda job: "" if job.adapter is None else job.adapter.key)
        self.jobs = jobs
        self.generators = [
            torch.Generator(device=batch.model.device).manual_seed(job.seed) for job in jobs
        ]
        self.logits, self.mask, positions, self.cache = batch.prefill(jobs, room)
        self.next_pos = positions[:, -1] + 1

    def __len__(self) -> int:
        return len(self.jobs)

    def keep(self, rows: list[int]) -> None:
        """Only `rows` go on; the leading columns no remaining row attends to are dropped."""
        selected = torch.tensor(rows, device=self.mask.device)
        self.cache.batch_select_indices(selected)
        self.mask, self.next_pos = self.mask[selected], self.next_pos[selected]
        self.jobs = [self.jobs[row] for row in rows]
        self.generators = [self.generators[row] for row in rows]
        unused = int(self.mask.any(dim=0).int().argmax())  # the first column still attended
        if unused:
            self.mask = self.mask[:, unused:]
            for layer in self.cache.layers:
                if isinstance(layer, ReservedLayer):
                    layer.drop_front(unused)

    def step(self, batch: _Batch, tokens: list[int]) -> None:
        """Feed each row its sampled token; the logits become those of the token after."""
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(self), 1))], dim=-1)
        out = batch.forward(
            self.jobs,
            input_ids=torch.tensor(tokens, device=self.mask.device).unsqueeze(-1),
            attention_mask=self.mask,
            position_ids=self.next_pos.unsqueeze(-1),
            cache=self.cache,
        )
        self.logits = out.logits[:, -1, :]
        self.next_pos = self.next_pos + 1

    def join(self, newcomers: _Rows) -> None:
        """Add the rows of `newcomers` (just prefilled) after these, aligned on the column
        every row writes next."""
        self.jobs = self.jobs + newcomers.jobs
        room = max(job.params.max_tokens - job.completion_tokens for job in self.jobs)
        self.cache = merge_rows(self.cache, newcomers.cache, room)
        width = max(self.mask.shape[1], newcomers.mask.shape[1])
        self.mask = torch.cat([_pad_left(self.mask, width), _pad_left(newcomers.mask, width)])
        self.next_pos = torch.cat([self.next_pos, newcomers.next_pos])
        self.logits = torch.cat([self.logits, newcomers.logits])
        self.generators = self.generators + newcomers.generators


def _pad_left(mask: torch.Tensor, width: int) -> torch.Tensor:
    return torch.cat([mask.new_zeros((mask.shape[0], width - mask.shape[1])), mask], dim=-1)


def _feed(rows: _Rows, eos_ids: frozenset[int], now: float) -> tuple[list[int], list[int]]:
    """Sample every row's next token and hand it to its job: (rows that go on, their tokens)."""
    sampled = sample_tokens(rows.logits, [job.params for job in rows.jobs], rows.generators)
    keep: list[int] = []
    tokens: list[int] = []
    for row, job in enumerate(rows.jobs):
        if job.cancelled.is_set():
            job.ended = True
            continue
        if job.deadline is not None and now > job.deadline:
            job.fail(
                ServiceUnavailableError(
                    "Generation did not finish within the request timeout.",
                    code="request_timeout",
                )
            )
            continue
        reason = _row_done(job, sampled[row], eos_ids)
        if reason is not None:
            job.finish(reason)
            continue
        keep.append(row)
        tokens.append(sampled[row])
    return keep, tokens


@torch.inference_mode()
def _decode(
    batch: _Batch,
    jobs: list[GenerationJob],
    joining: Callable[[int], list[GenerationJob]],
    max_rows: int,
    *,
    eos_ids: frozenset[int],
    clock: Callable[[], float],
) -> None:
    rows = _Rows(batch, jobs, room=max(job.params.max_tokens for job in jobs))
    while True:
        keep, tokens = _feed(rows, eos_ids, clock())
        if keep and len(keep) < len(rows):
            rows.keep(keep)
        if keep:
            rows.step(batch, tokens)
        newcomers = joining(max_rows - len(keep))
        if newcomers and keep:
            rows.join(_Rows(batch, newcomers, room=0))
        elif newcomers:  # every row had finished: the newcomers are the batch
            longest = max(job.params.max_tokens for job in newcomers)
            rows = _Rows(batch, newcomers, room=longest)
        elif not keep:
            return
