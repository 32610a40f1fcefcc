"""The trainer's Celery worker: queue `train`, one job at a time, safe to deliver twice.

Start it with `finerag serve trainer`. Settings follow Celery's advice for long tasks: acks late
(a crash leaves the message unacknowledged), prefetch one, reject on a lost worker, and a Redis
visibility timeout longer than the longest job, so a healthy long job is never redelivered.
A crash is instead noticed through the job's lease: a recovery loop in every worker re-queues
jobs that were running when their lease lapsed, and the job resumes from its last checkpoint.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, signals

from services.trainer.job_runner import RetryableJobError, run_job
from shared.contracts.queues import TRAIN_QUEUE, TRAIN_TASK
from shared.infrastructure.jobs import MAX_ATTEMPTS, JobStore
from shared.infrastructure.logs import configure_logging
from shared.infrastructure.settings import Settings, get_settings

log = logging.getLogger("finerag.trainer.worker")


def make_celery(settings: Settings) -> Celery:
    """The Celery app for the `train` queue."""
    app = Celery("finerag-trainer", broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_pool="solo",  # train in the worker process itself: no fork after CUDA init
        task_default_queue=TRAIN_QUEUE,
        task_routes={TRAIN_TASK: {"queue": TRAIN_QUEUE}},
        broker_transport_options={"visibility_timeout": settings.train_visibility_timeout_s},
        result_expires=7 * 24 * 3600,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    return app


settings = get_settings()
celery_app = make_celery(settings)
_store = JobStore.from_url(settings.redis_url)


@celery_app.task(name=TRAIN_TASK, bind=True, max_retries=MAX_ATTEMPTS)
def run_fine_tuning_job(self: Any, job_id: str) -> str:
    """Run one job by id (all state is re-read from the job store).

    Only an attempt that failed for a reason another attempt may not meet is retried (run_job
    re-queued it and counts attempts); a caller's mistake or a deleted job ends here, once.
    """
    try:
        return run_job(job_id, settings, _store)
    except RetryableJobError as exc:
        raise self.retry(exc=exc, countdown=min(60, 5 * 2 ** min(self.request.retries, 4))) from exc


def recover_stale_jobs(store: JobStore) -> list[str]:
    """Re-queue jobs left running by a worker that died; returns their ids."""
    recovered = []
    for job_id in store.stale_running_jobs():
        store.add_event(job_id, "warn", "Worker lost; job re-queued to resume from its checkpoint")
        celery_app.send_task(TRAIN_TASK, args=[job_id], queue=TRAIN_QUEUE)
        recovered.append(job_id)
    return recovered


def _recovery_loop(stop: threading.Event) -> None:
    while not stop.wait(settings.train_lease_ttl_s):
        try:
            for job_id in recover_stale_jobs(_store):
                log.warning("re-queued stale job %s", job_id)
        except Exception:  # a broker hiccup must not kill the loop
            log.exception("recovery sweep failed")


_recovery_stop = threading.Event()


@signals.worker_ready.connect
def _start_recovery(**_kwargs: Any) -> None:
    configure_logging(settings.log_level, settings.log_format)
    threading.Thread(
        target=_recovery_loop, args=(_recovery_stop,), name="job-recovery", daemon=True
    ).start()


@signals.worker_shutdown.connect
def _stop_recovery(**_kwargs: Any) -> None:
    _recovery_stop.set()


def run_worker(loglevel: str = "INFO") -> int:
    """Start the worker on queue `train` (blocks until it stops): `finerag serve trainer`."""
    celery_app.worker_main(
        ["worker", "--queues", TRAIN_QUEUE, "--pool", "solo", "--concurrency", "1",
         "--hostname", "trainer@%h", "--loglevel", loglevel, "--without-gossip", "--without-mingle"]
    )  # fmt: skip
    return 0
