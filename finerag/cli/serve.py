"""`finerag serve TARGET [--host H] [--port P]`: start one service or worker in this process.

Each target is started by the service it belongs to (its `server.py`, or the trainer's
`worker.py`); this module only maps names to them. A starter blocks until the part stops.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from finerag.cli.knowledge import _quiet_model_loading
from shared.infrastructure.settings import get_settings


def _retrieval(args: argparse.Namespace) -> int:
    from services.retrieval.server import serve

    return serve(args.host, args.port, get_settings())


def _ingestion(args: argparse.Namespace) -> int:
    from services.ingestion.server import serve

    return serve(args.host, args.port, get_settings())


def _ingestion_worker(_args: argparse.Namespace) -> int:
    from services.ingestion.server import serve_worker

    return serve_worker(get_settings())


def _gateway(args: argparse.Namespace) -> int:
    from services.gateway.server import DEFAULT_PORT, run_gateway

    return run_gateway(args.host, args.port or DEFAULT_PORT, get_settings())


def _trainer(_args: argparse.Namespace) -> int:
    from services.trainer.worker import run_worker

    return run_worker(get_settings().log_level)


# What `finerag serve TARGET` can start: one entry per part, each its service's own starter.
SERVE_TARGETS: dict[str, Callable[[argparse.Namespace], int]] = {
    "retrieval": _retrieval,
    "ingestion": _ingestion,
    "ingestion-worker": _ingestion_worker,
    "gateway": _gateway,
    "trainer": _trainer,
}


def run_serve(args: argparse.Namespace) -> int:
    """`finerag serve TARGET [--host H] [--port P]`."""
    _quiet_model_loading()  # nothing a service loads may reach for the Hugging Face Hub
    return SERVE_TARGETS[args.target](args)


def register(subparsers: Any) -> None:
    """Add `finerag serve`."""
    serve = subparsers.add_parser("serve", help="start a service or worker")
    serve.add_argument("target", choices=sorted(SERVE_TARGETS), metavar="TARGET",
                       help="one of: " + ", ".join(sorted(SERVE_TARGETS)))  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (HTTP services)")
    serve.add_argument("--port", type=int, default=None, help="port (default: the target's own)")
    serve.set_defaults(func=run_serve)
