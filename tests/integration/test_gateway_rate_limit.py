"""The per-key sliding-window rate limit against the real Redis (a dedicated database, flushed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from services.gateway.core.rate_limit import WINDOW_S, RateLimiter
from services.gateway.core.runtime import rate_limit_redis
from shared.contracts.errors import RateLimitError

pytestmark = pytest.mark.integration


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/8")
    client.ping()  # the suite needs Redis (`.ci/run` starts it): no Redis is a failure, not a skip
    client.flushdb()
    yield client
    client.flushdb()


def _allowed(limiter: RateLimiter, identity: str) -> bool:
    try:
        limiter.check(identity)
    except RateLimitError:
        return False
    return True


def test_over_the_limit_is_429_until_the_oldest_request_leaves_the_window(client: redis.Redis):
    now = [1_000_000.0]
    limiter = RateLimiter(client, 3, clock=lambda: now[0])
    for offset in (0.0, 10.0, 20.0):
        now[0] = 1_000_000.0 + offset
        limiter.check("key-a")
    now[0] = 1_000_000.0 + 25.0
    with pytest.raises(RateLimitError) as raised:
        limiter.check("key-a")
    assert raised.value.headers["Retry-After"] == str(WINDOW_S - 25)
    limiter.check("key-b")  # other keys have their own budget
    now[0] = 1_000_000.0 + WINDOW_S + 1  # the first request has left the window, not the others
    limiter.check("key-a")
    assert not _allowed(limiter, "key-a")


def test_a_burst_across_a_minute_edge_gets_no_more_than_the_limit(client: redis.Redis):
    """A fixed window would let 2x the limit through here: the limit at :59 and again at :00."""
    limit = 10
    now = [60.0 * 20_000 + 59.0]
    limiter = RateLimiter(client, limit, clock=lambda: now[0])
    before_edge = sum(_allowed(limiter, "key-a") for _ in range(limit))
    now[0] += 2.0  # the next minute
    after_edge = sum(_allowed(limiter, "key-a") for _ in range(limit))
    assert before_edge == limit
    assert after_edge == 0


def test_zero_means_unlimited(client: redis.Redis):
    limiter = RateLimiter(client, 0)
    for _ in range(10):
        limiter.check("key-a")
    assert client.dbsize() == 0


class CountingScripts:
    """Wraps a client and counts the script calls made through it."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.calls = 0

    def register_script(self, source: str):
        script = self.client.register_script(source)

        def call(**kwargs):
            self.calls += 1
            return script(**kwargs)

        return call


def test_redis_down_lets_requests_through_and_is_not_asked_for_a_while():
    down = CountingScripts(rate_limit_redis("redis://127.0.0.1:1/0"))
    now = [1000.0]
    limiter = RateLimiter(down, 1, clock=lambda: now[0], pause_s=5)
    for _ in range(3):
        limiter.check("key-a")
    assert down.calls == 1
    now[0] += 6
    limiter.check("key-a")
    assert down.calls == 2
