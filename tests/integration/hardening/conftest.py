"""Each hardening module attacks a stack of its own (the generated requests may create or delete
knowledge bases, so no module depends on what another left behind)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.integration.gateway_processes import REDIS_TEST_URL, gateway_env, running_gateway
from tests.integration.hardening.stack import (
    HIDDEN_KB,
    KEY,
    OPEN_KB,
    SCOPED_KEY,
    TOKEN,
    Stack,
    chunk_body,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    running = Stack(tmp_path_factory.mktemp("hardening"))
    try:
        running.start("retrieval", running.retrieval_url)
        running.start("ingestion", running.ingestion_url)
        with httpx.Client(
            base_url=running.retrieval_url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as client:
            for kb, text in ((OPEN_KB, "Refunds take 14 days."), (HIDDEN_KB, "Salaries: 9000.")):
                body = {"chunks": [chunk_body(kb, "policy.md", text)]}
                response = client.put(f"/v1/collections/{kb}/chunks", json=body, timeout=120)
                assert response.status_code == 200, response.text
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def retrieval(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=stack.retrieval_url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def gateway(stack: Stack, tiny_model_dir: Path, tmp_path_factory) -> Iterator[str]:
    env = gateway_env(
        base_model=str(tiny_model_dir),
        data_dir=str(tmp_path_factory.mktemp("hardening-gateway")),
        api_keys=f"{KEY},{SCOPED_KEY}:{OPEN_KB}",
        retrieval_url=stack.retrieval_url,
        service_token=TOKEN,
        max_batch_size="16",
        batch_wait_ms="50",
        default_max_tokens="4",
    )
    log = tmp_path_factory.mktemp("hardening-gateway-log") / "gateway.log"
    with running_gateway(env, log) as url:
        yield url


@pytest.fixture(scope="module")
def api(gateway: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    with httpx.Client(base_url=gateway, headers=headers, timeout=120) as client:
        yield client
