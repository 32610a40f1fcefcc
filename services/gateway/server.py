"""Run the gateway under gunicorn: one worker process (it holds the model), many threads.

`finerag serve gateway` calls `run_gateway()`. One process because the model and its adapters
live in it and batching needs every request to meet in one scheduler; threads (gthread) so
concurrent requests reach that scheduler, with a few more threads than the concurrency cap so
an overloaded gateway answers 503 instead of leaving connections waiting unseen.
"""

from __future__ import annotations

import os
import sys

from shared.infrastructure.settings import Settings

APP_FACTORY = "services.gateway.app:create_app(warm=True)"
WORKER_CLASS = "services.gateway.gunicorn_worker.GatewayWorker"
DEFAULT_PORT = 8000
_SPARE_THREADS = 8


def gunicorn_argv(host: str, port: int, settings: Settings) -> list[str]:
    """The gunicorn command line for these settings."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        "1",
        "--worker-class",
        WORKER_CLASS,
        "--threads",
        str(settings.max_concurrency + _SPARE_THREADS),
        # Loading the base model can take minutes; generation is bounded by request_timeout_s.
        "--timeout",
        str(int(max(600, settings.request_timeout_s + 60))),
        "--graceful-timeout",
        "30",
        "--access-logfile",
        "-",
        "--access-logformat",
        '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',  # never headers: they hold the API key
        APP_FACTORY,
    ]


def run_gateway(host: str, port: int, settings: Settings) -> int:
    """Replace this process with gunicorn serving the gateway; returns only if exec fails.

    Settings reach the worker through the environment (FINERAG_*), as for every service.
    """
    argv = gunicorn_argv(host, port, settings)
    os.execv(argv[0], argv)  # noqa: S606 - our own argv, no shell
    return 1  # pragma: no cover - execv does not return
