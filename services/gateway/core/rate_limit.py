"""Per-key request rate limit in Redis: a sliding one-minute window per key.

Each key has a sorted set of its recent requests' times. One Lua script drops the entries older
than a minute, counts the rest and, under the limit, adds this request, so no burst across a
minute's edge gets more than the limit into any 60 seconds (a fixed window lets twice the limit
through there).
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from shared.contracts.errors import RateLimitError

log = logging.getLogger("finerag.gateway.rate_limit")

WINDOW_S = 60

# KEYS[1] the key's set; ARGV[1] now (s), ARGV[2] window (s), ARGV[3] limit, ARGV[4] member.
# Returns {1, 0} when counted, else {0, oldest time still in the window}.
_SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, oldest[2]}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return {1, '0'}
"""


def bucket_key(identity: str) -> str:
    """The Redis key holding `identity`'s requests of the last minute."""
    return f"finerag:gateway:rate:{identity}"


class RateLimiter:
    """At most `limit_per_minute` requests per key in any 60 s; over it → 429 with Retry-After.

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
        self._script = redis.register_script(_SLIDING_WINDOW)
        self._limit = limit_per_minute
        self._clock = clock
        self._pause_s = pause_s
        self._warned_at = -math.inf
        self._down_until = -math.inf

    def check(self, identity: str) -> None:
        """Count one request for `identity`; raise RateLimitError when over the limit."""
        if self._limit <= 0:
            return
        now = self._clock()
        if now < self._down_until:
            return
        member = f"{now:.6f}:{secrets.token_hex(4)}"
        try:
            counted, oldest = self._script(
                keys=[bucket_key(identity)], args=[now, WINDOW_S, self._limit, member]
            )
        except Exception as exc:  # redis.RedisError, connection refused, ...
            self._down_until = now + self._pause_s
            if now - self._warned_at > WINDOW_S:
                log.warning("rate limiting is off: Redis is unreachable (%s)", type(exc).__name__)
                self._warned_at = now
            return
        if not int(counted):
            retry_after = math.ceil(float(oldest) + WINDOW_S - now)
            raise RateLimitError(
                f"Rate limit of {self._limit} requests per minute reached; retry in "
                f"{max(1, retry_after)} s.",
                retry_after_s=retry_after,
            )
