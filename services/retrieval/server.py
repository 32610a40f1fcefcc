"""Run the retrieval service: `finerag serve retrieval` calls `serve()`."""

from __future__ import annotations

from shared.infrastructure.fastapi_server import serve_fastapi
from shared.infrastructure.settings import Settings

APP_FACTORY = "services.retrieval.app:create_app"
DEFAULT_PORT = 8001


def serve(host: str, port: int | None, settings: Settings) -> int:
    """Serve the retrieval API until it stops (the process owns the embedded store)."""
    return serve_fastapi(APP_FACTORY, host, port or DEFAULT_PORT, settings)
