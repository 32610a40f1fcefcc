"""Serve a FastAPI service (retrieval, ingestion) under uvicorn, never open without a token.

Each service's `server.py` calls `serve_fastapi` with its app factory; `finerag serve TARGET`
calls that. The services trust one another by the service token: bound to anything but a
loopback address without one, anyone who reaches the address could change the knowledge bases,
so that start is refused.
"""

from __future__ import annotations

import ipaddress

from shared.contracts.errors import InvalidRequestError
from shared.infrastructure.settings import Settings


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (or `localhost`)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve_fastapi(factory: str, host: str, port: int, settings: Settings) -> int:
    """Run the app that `factory` ("module:function") builds until it stops.

    Raises:
        InvalidRequestError: a non-loopback `host` without FINERAG_SERVICE_TOKEN.
    """
    import uvicorn

    from shared.infrastructure.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    if settings.service_token is None and not is_loopback(host):
        raise InvalidRequestError(
            f"refusing to serve on {host} without FINERAG_SERVICE_TOKEN: anyone who "
            "reaches the address could change the knowledge bases. Set a token (every "
            "FineRAG service then sends it) or bind 127.0.0.1.",
            param="host",
        )
    uvicorn.run(factory, factory=True, host=host, port=port, log_config=None)
    return 0
