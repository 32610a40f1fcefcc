"""The generation engine: one base model, its LoRA adapters, one batch worker.

The gateway serves through it and the in-process evaluation submits a whole run to it, so an
evaluation measures the decoder clients are served by. Requests for the same model that wait
together are generated together, and requests that arrive while a batch runs take the rows
its finished answers left (`batching.BatchScheduler`); each request keeps its own sampling
parameters, seed, stop strings and deadline (`decoding.generate_batch`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.contracts.errors import FineRAGError, ServiceUnavailableError
from shared.contracts.prompts import Message
from shared.models.chat_encoding import encode_chat
from shared.models.generation.adapters import AdapterCache
from shared.models.generation.attention import use_packed_decoding
from shared.models.generation.batching import BatchScheduler
from shared.models.generation.decoding import GenerationJob, TakeMore, generate_batch
from shared.models.generation.events import Finished, GenerationEvent, SamplingParams, TextDelta
from shared.models.generation.merged_adapters import MergedAdapters
from shared.models.generation.stop_text import StopText
from shared.models.loading import Quantization, end_token_ids

log = logging.getLogger("finerag.generation.engine")


class JobStream:
    """The events of one submitted job; closing it (client gone) cancels the job."""

    def __init__(self, job: GenerationJob) -> None:
        self._job = job
        self._done = False

    def __iter__(self) -> Iterator[GenerationEvent]:
        return self

    def __next__(self) -> GenerationEvent:
        if self._done:
            raise StopIteration
        timeout = None
        if self._job.deadline is not None:
            timeout = max(0.0, self._job.deadline - time.monotonic()) + 1.0
        try:
            event = self._job.events.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise ServiceUnavailableError(
                "Generation did not finish within the request timeout.", code="request_timeout"
            ) from None
        if isinstance(event, FineRAGError):
            self.close()
            raise event
        if isinstance(event, Finished):
            self._done = True
        return event

    def close(self) -> None:
        """Stop generating for this request."""
        self._done = True
        self._job.cancel()


@dataclass(frozen=True)
class Completion:
    """A whole answer; `finish_reason` is "error" when none came (`error` says why)."""

    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Submission:
    """One generation to run: the model's name (the base's or an adapter's) and the prompt."""

    model: str
    prompt_ids: list[int]
    params: SamplingParams
    deadline: float | None = None
    # False: the answer's text arrives in one piece with its end (a reader of whole answers
    # is not woken, nor holds the batch worker up, once per token).
    stream: bool = True


class Engine:
    """transformers + PEFT in this process: the base model loaded once, adapters from the
    registry switched per batch, dynamic batching on one worker thread.

    `merge_adapters` (default: when the base is not quantized) merges the batch's adapter into
    the base weights (`merged_adapters`) instead of running PEFT's side branches.
    `mixed_batches` (default: with merged adapters) lets one batch hold requests for several
    models when they wait together, each row running its own adapter (`row_adapters`).

    `continuous_batching=False` keeps each batch to the requests it opened with (for
    measuring what refilling rows buys). `background=True` loads the model on a thread (a
    server answers health checks meanwhile); `wait_loaded` then says when it is ready.
    """

    def __init__(
        self,
        base_model: str,
        *,
        models_dir: Path,
        quantization: Quantization = "none",
        max_batch_size: int = 32,
        wait_window_s: float = 0.0,
        adapter_cache_size: int = 4,
        merge_adapters: bool | None = None,
        mixed_batches: bool | None = None,
        continuous_batching: bool = True,
        background: bool = False,
        on_queue_depth: Callable[[int], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        from shared.models.loading import load_tokenizer

        self.base_model = base_model
        self._models_dir = models_dir
        self._quantization: Quantization = quantization
        self._adapter_cache_size = adapter_cache_size
        # Merged into the base's weights (a fine-tuned model as fast as the base) unless the
        # base is quantized, where only PEFT's side branches can carry an adapter.
        self._merge_adapters = quantization == "none" if merge_adapters is None else merge_adapters
        # Rows of several models need the bare base's weights: only the merging path has them.
        self._mixed = self._merge_adapters and (mixed_batches is None or mixed_batches)
        self._max_batch_size = max(1, max_batch_size)
        self._continuous = continuous_batching  # off: a batch runs until its last row is done
        self.tokenizer = load_tokenizer(base_model)
        self._tokenizer_lock = threading.Lock()  # fast tokenizers are not thread-safe
        self._eos_ids = end_token_ids(self.tokenizer)
        self._pad_id = int(self.tokenizer.pad_token_id)
        self.context_window = 0  # the model's position limit, known once it has loaded
        self._loaded = threading.Event()
        self._load_error: BaseException | None = None
        self._adapters: AdapterCache | MergedAdapters | None = None  # set once loaded
        self._scheduler: BatchScheduler[GenerationJob] = BatchScheduler(
            self._run_batch,
            max_batch_size=self._max_batch_size,
            wait_window_s=wait_window_s,
            mix_models=self._mixed,
            on_queue_depth=on_queue_depth,
            on_batch=on_batch,
        )
        if background:
            threading.Thread(target=self._load, name="model-loader", daemon=True).start()
        else:
            self._load()
            if self._load_error is not None:
                self.close()
                raise self._load_error

    # --- loading ----------------------------------------------------------------------------
    def _load(self) -> None:
        from shared.models.loading import load_base_model

        try:
            started = time.monotonic()
            model = load_base_model(self.base_model, quantization=self._quantization)
            model.eval()
            use_packed_decoding(model)
            self.context_window = int(getattr(model.config, "max_position_embeddings", 8192))
            adapters = MergedAdapters if self._merge_adapters else AdapterCache
            self._adapters = adapters(model, self._models_dir, self._adapter_cache_size)
            log.info(
                "model loaded",
                extra={"model": self.base_model, "seconds": time.monotonic() - started},
            )
        except BaseException as exc:
            log.exception("loading the base model failed")
            self._load_error = exc
        finally:
            self._loaded.set()

    def wait_loaded(self, timeout: float | None) -> None:
        """ServiceUnavailableError unless the model is (or within `timeout` becomes) ready."""
        if not self._loaded.wait(timeout):
            raise ServiceUnavailableError(
                "The model is still loading.", code="model_loading", retry_after_s=10
            )
        if self._adapters is None:
            raise ServiceUnavailableError(
                f"The model failed to load: {self._load_error}", code="model_unavailable"
            )

    # --- text <-> tokens --------------------------------------------------------------------
    def encode_messages(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of chat `messages` as the model sees them (message text stays plain text)."""
        with self._tokenizer_lock:
            return encode_chat(self.tokenizer, messages, add_generation_prompt=True)

    def encode_text(self, prompt: str) -> list[int]:
        """Token ids of a raw completion prompt (with the tokenizer's own special tokens)."""
        with self._tokenizer_lock:
            return list(self.tokenizer(prompt)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        """Answer text of generated ids (special tokens dropped, spacing as generated)."""
        with self._tokenizer_lock:
            return str(
                self.tokenizer.decode(
                    list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
                )
            )

    # --- generating -------------------------------------------------------------------------
    def submit(self, *submissions: Submission) -> list[JobStream]:
        """Queue generations (all at once, so they can share batches); iterate each stream for
        its events. Call `wait_loaded` first."""
        assert self._adapters is not None, "submit() before the model loaded"
        jobs = [
            GenerationJob(
                s.prompt_ids,
                s.params,
                StopText(self.decode, s.params.stop, incremental=s.stream),
                s.deadline,
                stream=s.stream,
                model=s.model,
            )
            for s in submissions
        ]
        self._scheduler.submit_many(
            [(s.model, job) for s, job in zip(submissions, jobs, strict=True)]
        )
        return [JobStream(job) for job in jobs]

    def complete(
        self, submissions: Sequence[Submission], on_done: Callable[[], None] | None = None
    ) -> list[Completion]:
        """Generate every submission to its end; results in submission order, failures as
        `Completion(finish_reason="error")`, never exceptions. `on_done` is called as each
        result is collected; if it raises, the rest of the run is cancelled and the exception
        goes on."""
        self.wait_loaded(None)
        streams = self.submit(*submissions)
        results = []
        try:
            for stream in streams:
                results.append(_collect(stream))
                if on_done is not None:
                    on_done()
        except BaseException:  # on_done stopped the run (a cancelled job): stop generating it
            for stream in streams[len(results) :]:
                stream.close()
            raise
        return results

    def close(self) -> None:
        """Stop the batch worker after the batch in progress."""
        self._scheduler.close()

    def _run_batch(
        self, model_name: str | None, jobs: list[GenerationJob], take_more: TakeMore
    ) -> None:
        assert self._adapters is not None
        if model_name is None:  # requests for several models
            self._run_mixed_batch(jobs, take_more)
            return
        adapter = None if model_name == self.base_model else model_name
        error: FineRAGError | None = None
        try:
            with self._adapters.use(adapter) as model:
                # Never raises: a failed forward pass is reported to each job.
                generate_batch(
                    model,
                    jobs,
                    pad_id=self._pad_id,
                    eos_ids=self._eos_ids,
                    take_more=take_more if self._continuous else None,
                    max_rows=self._max_batch_size,
                )
        except Exception as exc:
            error = _adapter_failure(model_name, exc)
        if error is not None:
            for job in jobs:
                job.fail(error)

    def _run_mixed_batch(self, jobs: list[GenerationJob], take_more: TakeMore) -> None:
        adapters = self._adapters
        assert isinstance(adapters, MergedAdapters)

        def ready(jobs: Sequence[GenerationJob]) -> list[GenerationJob]:
            """The jobs whose adapter is loaded, each told it; the others fail."""
            kept = []
            for job in jobs:
                try:
                    job.adapter = (
                        None if job.model == self.base_model else adapters.row_adapter(job.model)
                    )
                    kept.append(job)
                except Exception as exc:
                    job.fail(_adapter_failure(job.model, exc))
            return kept

        with adapters.rows() as (model, row_adapters):
            # Never raises: a failed forward pass is reported to each job.
            generate_batch(
                model,
                ready(jobs),
                pad_id=self._pad_id,
                eos_ids=self._eos_ids,
                take_more=(lambda n: ready(take_more(n))) if self._continuous else None,
                max_rows=self._max_batch_size,
                adapters=row_adapters,
            )


def _adapter_failure(model_name: str, exc: Exception) -> FineRAGError:
    """What the jobs of `model_name` are told when its adapter could not be loaded."""
    if isinstance(exc, FineRAGError):  # the adapter vanished from the registry
        return exc
    log.error("loading adapter %s failed", model_name, exc_info=exc)
    return ServiceUnavailableError(f"Loading the model {model_name!r} failed.")


def _collect(stream: JobStream) -> Completion:
    parts: list[str] = []
    try:
        for event in stream:
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                return Completion(
                    "".join(parts), event.reason, event.prompt_tokens, event.completion_tokens
                )
    except FineRAGError as exc:
        return Completion("".join(parts), "error", error=exc.message)
    return Completion("".join(parts), "error", error="the generation ended without a result")
