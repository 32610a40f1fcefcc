"""The ingestion Celery app's configuration, shared by the worker and the API that queues jobs.

Celery's advice for long tasks that may run twice: late acks, one task at a time per worker,
and a Redis visibility timeout longer than the longest job (a shorter one only re-runs the
task, which the job record makes harmless).
"""

from __future__ import annotations

from celery import Celery

from shared.contracts.queues import INGEST_QUEUE, INGEST_TASK
from shared.infrastructure.settings import Settings


def create_celery(settings: Settings) -> Celery:
    """The Celery app: late acks, one task at a time, redelivery after the visibility timeout."""
    app = Celery("finerag.ingestion", broker=settings.redis_url)
    visibility = settings.ingest_visibility_timeout_s
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=INGEST_QUEUE,
        task_routes={INGEST_TASK: {"queue": INGEST_QUEUE}},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={
            "visibility_timeout": visibility,
            # Look for abandoned (unacked) tasks every few seconds, not every 100 s.
            "unacked_restore_interval": max(1, min(10, visibility // 2)),
            "unacked_restore_throttle": 1,
        },
    )
    return app
