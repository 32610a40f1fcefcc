"""Per-key request rate limit in Redis: a fixed one-minute window per key."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from shared.errors import RateLimitError

log = logging.getLogger("finerag.gateway.rate_limit")

WINDOW_S = 60


def bucket_key(identity: str, window: int) -> str:
    """The Redis key that counts `identity`'s requests in minute `window`."""
    return f"finerag:gateway:rate:{identity}:{window}"


class RateLimiter:
    """INCR a counter per key and minute; over the limit → 429 with Retry-After.

    Redis being down must not take the API down with it: the limiter then lets requests
    through for `pause_s` without asking Redis again, and logs a warning once a minute.
    """

    def __init__(
        self,
        redis: Any,
        limit_per_minute: int,
        clock: Callable[[], float] = time.time,
        pause_s: float = 5.0,
    ) -> None:
        self._redis = redis
        self._limit = limit_per_minute
        self._clock = clock
        self._pause_s = pause_s
        self._warned_at = 0.0
        self._down_until = 0.0

    def check(self, identity: str) -> None:
        """Count one request for `identity`; raise RateLimitError when over the limit."""
        if self._limit <= 0:
            return
        now = self._clock()
        if now < self._down_until:
            return
        window = int(now // WINDOW_S)
        key = bucket_key(identity, window)
        try:
            pipe = self._redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, WINDOW_S * 2)
            count = int(pipe.execute()[0])
        except Exception as exc:  # redis.RedisError, connection refused, ...
            self._down_until = now + self._pause_s
            if now - self._warned_at > WINDOW_S:
                log.warning("rate limiting is off: Redis is unreachable (%s)", type(exc).__name__)
                self._warned_at = now
            return
        if count > self._limit:
            retry_after = int((window + 1) * WINDOW_S - now) + 1
            raise RateLimitError(
                f"Rate limit of {self._limit} requests per minute reached; retry in "
                f"{retry_after} s.",
                retry_after_s=retry_after,
            )
