"""Run the ingestion service and its worker: `finerag serve ingestion` calls `serve()`,
`finerag serve ingestion-worker` calls `serve_worker()`."""

from __future__ import annotations

from shared.infrastructure.fastapi_server import serve_fastapi
from shared.infrastructure.settings import Settings

APP_FACTORY = "services.ingestion.app:create_app"
DEFAULT_PORT = 8002


def serve(host: str, port: int | None, settings: Settings) -> int:
    """Serve the ingestion API until it stops."""
    return serve_fastapi(APP_FACTORY, host, port or DEFAULT_PORT, settings)


def serve_worker(settings: Settings) -> int:
    """Run the Celery worker of the ingestion queue until it stops.

    One task at a time in the worker process itself: a job already uses the CPU through the
    retrieval service, and `kill` of this process stops the job (acks late: it is redelivered).
    """
    from services.ingestion.worker import celery_app
    from shared.contracts.queues import INGEST_QUEUE
    from shared.infrastructure.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    celery_app.worker_main(
        ["worker", "-Q", INGEST_QUEUE, "--pool", "solo", "--loglevel", settings.log_level]
    )
    return 0
