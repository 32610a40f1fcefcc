"""How routes reach the gateway runtime of the app that serves them.

The runtime (model, stores, clients) is built on first use, or at startup when the app is
created with `warm=True` (gunicorn does), so building an app for its routes stays cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask, current_app

from services.gateway.core.runtime import GatewayRuntime
from shared.infrastructure.settings import Settings

EXTENSION = "finerag_gateway"
_FACTORY = "finerag_gateway_factory"
_lock = threading.Lock()


def defer_runtime(app: Flask, factory: Callable[[], GatewayRuntime]) -> None:
    """Build the runtime with `factory` when a route first needs it."""
    app.extensions[_FACTORY] = factory


def attach_runtime(app: Flask, runtime: GatewayRuntime) -> None:
    """Make `runtime` the one the app's routes use."""
    app.extensions[EXTENSION] = runtime


def ensure_runtime(app: Flask) -> GatewayRuntime:
    """The app's runtime, built now if it was not yet."""
    runtime: GatewayRuntime | None = app.extensions.get(EXTENSION)
    if runtime is None:
        with _lock:
            runtime = app.extensions.get(EXTENSION)
            if runtime is None:
                runtime = app.extensions[_FACTORY]()
                app.extensions[EXTENSION] = runtime
    return runtime


def get_runtime() -> GatewayRuntime:
    """The runtime of the app handling this request."""
    return ensure_runtime(current_app)


def built_runtime() -> GatewayRuntime | None:
    """The runtime if it exists already (metrics must not build it)."""
    runtime: GatewayRuntime | None = current_app.extensions.get(EXTENSION)
    return runtime


def get_settings_of_app() -> Settings:
    """The settings the app was created with."""
    settings: Settings = current_app.config["FINERAG_SETTINGS"]
    return settings
