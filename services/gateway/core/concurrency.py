"""The concurrency cap: a request over the limit is refused at once, never queued."""

from __future__ import annotations

import threading

from shared.contracts.errors import ServiceUnavailableError


class ConcurrencyLimit:
    """Counts requests in flight; `acquire` raises 503 when all slots are taken."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._in_flight

    def acquire(self) -> None:
        """Take a slot or raise ServiceUnavailableError (the client should retry later)."""
        with self._lock:
            if self._in_flight >= self.limit:
                raise ServiceUnavailableError(
                    f"The gateway is serving its limit of {self.limit} requests; retry later.",
                    code="overloaded",
                )
            self._in_flight += 1

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
