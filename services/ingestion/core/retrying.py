"""Retry calls to the retrieval service with exponential backoff while it is unavailable."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from shared.contracts.errors import ServiceUnavailableError

log = logging.getLogger("finerag.ingestion")

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; waits `backoff_s`, then twice that, and so on, between them."""

    attempts: int = 5
    backoff_s: float = 1.0
    max_wait_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def call(self, what: str, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `function(*args, **kwargs)`, retrying on ServiceUnavailableError."""
        wait = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                return function(*args, **kwargs)
            except ServiceUnavailableError as exc:
                if attempt == self.attempts:
                    raise ServiceUnavailableError(
                        f"{what} failed after {self.attempts} tries: {exc.message}"
                    ) from exc
                log.warning(
                    "retrieval unavailable, retrying",
                    extra={"what": what, "attempt": attempt, "wait_s": wait},
                )
                self.sleep(wait)
                wait = min(wait * 2, self.max_wait_s)
        raise AssertionError("unreachable")  # pragma: no cover
