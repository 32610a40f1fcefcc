"""The per-key rate limit against the real Redis (a dedicated database, flushed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from services.gateway.core.rate_limit import WINDOW_S, RateLimiter
from services.gateway.core.runtime import rate_limit_redis
from shared.errors import RateLimitError


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/8")
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    client.flushdb()
    yield client
    client.flushdb()


def test_over_the_limit_is_429_until_the_minute_turns(client: redis.Redis):
    now = [WINDOW_S * 1000 + 15.0]  # 15 s into a minute
    limiter = RateLimiter(client, 3, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("key-a")
    with pytest.raises(RateLimitError) as raised:
        limiter.check("key-a")
    assert raised.value.headers["Retry-After"] == str(WINDOW_S - 15 + 1)
    limiter.check("key-b")  # other keys have their own budget
    now[0] += WINDOW_S
    limiter.check("key-a")


def test_zero_means_unlimited(client: redis.Redis):
    limiter = RateLimiter(client, 0)
    for _ in range(10):
        limiter.check("key-a")
    assert client.dbsize() == 0


class CountingRedis:
    """Wraps a client and counts the pipelines asked for."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.calls = 0

    def pipeline(self):
        self.calls += 1
        return self.client.pipeline()


def test_redis_down_lets_requests_through_and_is_not_asked_for_a_while():
    down = CountingRedis(rate_limit_redis("redis://127.0.0.1:1/0"))
    now = [1000.0]
    limiter = RateLimiter(down, 1, clock=lambda: now[0], pause_s=5)
    for _ in range(3):
        limiter.check("key-a")
    assert down.calls == 1
    now[0] += 6
    limiter.check("key-a")
    assert down.calls == 2
