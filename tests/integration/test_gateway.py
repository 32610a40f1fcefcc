"""The gateway under gunicorn on loopback, driven with the official `openai` SDK."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis

from services.gateway.app import create_app
from services.gateway.core.auth import key_id
from services.gateway.core.rate_limit import WINDOW_S, bucket_key
from shared.infrastructure.settings import Settings
from tests.integration.gateway_processes import (
    REDIS_TEST_URL,
    build_adapter,
    gateway_env,
    running_gateway,
)

pytestmark = pytest.mark.integration

KEY = "test-key-main"
LIMITED_KEY = "test-key-limited"
ADAPTER = "acme-ft"
QUESTION = [{"role": "user", "content": "How much does the Pro plan cost per month?"}]


@pytest.fixture(scope="module")
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    data = tmp_path_factory.mktemp("gateway-data")
    build_adapter(tiny_model_dir, data / "models", ADAPTER)
    return data


RATE_LIMIT = 100_000


@pytest.fixture(scope="module")
def gateway(
    tiny_model_dir: Path, data_dir: Path, redis_db: redis.Redis, tmp_path_factory
) -> Iterator[str]:
    env = gateway_env(
        base_model=str(tiny_model_dir),
        data_dir=str(data_dir),
        api_keys=f"{KEY},{LIMITED_KEY}",
        max_concurrency="40",
        max_batch_size="32",
        batch_wait_ms="20",
        rate_limit_per_minute=str(RATE_LIMIT),
        default_max_tokens="8",
    )
    log = tmp_path_factory.mktemp("gateway-log") / "gateway.log"
    with running_gateway(env, log) as url:
        yield url


@pytest.fixture(scope="module")
def client(gateway: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=0, timeout=120)


def _chat(client: openai.OpenAI, model: str, **kwargs: Any) -> Any:
    kwargs.setdefault("messages", QUESTION)
    kwargs.setdefault("max_tokens", 8)
    return client.chat.completions.create(model=model, **kwargs)


def test_models_list_has_the_base_the_fine_tuned_model_and_the_agents(
    client: openai.OpenAI, tiny_model_dir: Path
):
    ids = [m.id for m in client.models.list().data]
    assert ids == [
        str(tiny_model_dir),
        ADAPTER,
        "agent:research",
        "agent:calculate",
        "agent:support",
    ]


def test_chat_completion_with_usage(client: openai.OpenAI, tiny_model_dir: Path):
    answer = _chat(client, str(tiny_model_dir), temperature=0)
    assert answer.object == "chat.completion"
    assert answer.id.startswith("chatcmpl-")
    choice = answer.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert answer.usage.prompt_tokens > 10
    assert 0 < answer.usage.completion_tokens <= 8
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_stream_reassembles_to_the_same_answer_for_a_seed(
    client: openai.OpenAI, tiny_model_dir: Path
):
    model = str(tiny_model_dir)
    whole = _chat(client, model, temperature=1.0, seed=1234, max_tokens=10)
    chunks = list(
        _chat(
            client,
            model,
            temperature=1.0,
            seed=1234,
            max_tokens=10,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finishing = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishing == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_same_seed_same_answer_other_seed_differs(client: openai.OpenAI, tiny_model_dir: Path):
    model = str(tiny_model_dir)
    answers = {
        seed: [_chat(client, model, temperature=1.0, seed=seed, max_tokens=12) for _ in range(2)]
        for seed in (1, 2)
    }
    for first, second in answers.values():
        assert first.choices[0].message.content == second.choices[0].message.content
    assert answers[1][0].choices[0].message.content != answers[2][0].choices[0].message.content


def test_text_completion_and_its_stream(client: openai.OpenAI, tiny_model_dir: Path):
    model = str(tiny_model_dir)
    whole = client.completions.create(
        model=model, prompt="The Pro plan", max_tokens=6, temperature=0
    )
    assert whole.object == "text_completion"
    assert whole.choices[0].text
    streamed = client.completions.create(
        model=model, prompt="The Pro plan", max_tokens=6, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == whole.choices[0].text


def test_stop_sequence_cuts_the_answer(client: openai.OpenAI, tiny_model_dir: Path):
    model = str(tiny_model_dir)
    full = _chat(client, model, temperature=0, max_tokens=16).choices[0].message.content
    words = re.findall(r"\w{2,}", full)
    assert words, full
    stop = words[min(1, len(words) - 1)]
    cut = _chat(client, model, temperature=0, max_tokens=16, stop=[stop]).choices[0]
    assert cut.finish_reason == "stop"
    assert cut.message.content == full[: full.index(stop)]


def test_fine_tuned_adapter_is_served_by_name(client: openai.OpenAI, tiny_model_dir: Path):
    base = _chat(client, str(tiny_model_dir), temperature=0, max_tokens=12)
    tuned = _chat(client, ADAPTER, temperature=0, max_tokens=12)
    again = _chat(client, str(tiny_model_dir), temperature=0, max_tokens=12)
    assert tuned.model == ADAPTER
    assert tuned.choices[0].message.content != base.choices[0].message.content
    # Switching back to the base disables the adapter again.
    assert again.choices[0].message.content == base.choices[0].message.content


def test_feedback_is_stored_and_exported(
    client: openai.OpenAI, tiny_model_dir: Path, data_dir: Path, tmp_path: Path
):
    answer = _chat(client, str(tiny_model_dir), temperature=0)
    stored = client.post(
        "/feedback",
        body={"completion_id": answer.id, "rating": "down", "correction": "It costs $12 [1]."},
        cast_to=httpx.Response,
    )
    assert stored.status_code == 201
    assert stored.json()["completion_id"] == answer.id
    with pytest.raises(openai.NotFoundError):
        client.post(
            "/feedback",
            body={"completion_id": "chatcmpl-nope", "rating": "up"},
            cast_to=httpx.Response,
        )
    out = tmp_path / "corrections.jsonl"
    subprocess.run(
        [sys.executable, "-m", "finerag", "feedback", "export", "--out", str(out)],
        check=True,
        env=gateway_env(data_dir=str(data_dir)),
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 1
    messages = lines[0]["messages"]
    assert messages[-2] == QUESTION[-1]
    assert messages[-1] == {"role": "assistant", "content": "It costs $12 [1]."}


def test_every_route_but_health_needs_a_key(gateway: str, tmp_path: Path):
    # The URL map of the very app gunicorn serves (its runtime is never built here).
    app = create_app(Settings(_env_file=None, data_dir=tmp_path))
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    assert {r.rule for r in rules} >= {
        "/health",
        "/ready",
        "/metrics",
        "/v1/models",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/feedback",
    }
    for rule in rules:
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": KEY}):
                response = httpx.request(method, gateway + path, headers=headers, json={})
                expected = 200 if rule.rule == "/health" else 401
                assert response.status_code == expected, (method, path, headers)
                if expected == 401:
                    assert response.json()["error"]["type"] == "authentication_error"
                    assert KEY not in response.text


def test_wrong_key_is_an_authentication_error(gateway: str):
    bad = openai.OpenAI(base_url=f"{gateway}/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


@pytest.mark.parametrize(
    "body",
    [
        {"max_tokens": 0},
        {"messages": []},
        {"temperature": "hot"},
        {"messages": [{"role": "user", "content": 42}]},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"n": 2},
    ],
)
def test_bad_requests_are_400(client: openai.OpenAI, tiny_model_dir: Path, body: dict):
    request = {"model": str(tiny_model_dir), "messages": QUESTION, "max_tokens": 4, **body}
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(**request)
    assert raised.value.body["type"] == "invalid_request_error"  # type: ignore[index]


def test_messages_over_the_context_are_400_naming_the_counts(gateway: str, tiny_model_dir: Path):
    long = [{"role": "user", "content": "plan " * 3000}]
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=str(tiny_model_dir), messages=long, max_tokens=131072)
    assert "max_tokens is 131072" in raised.value.message
    assert "context window" in raised.value.message


def test_unknown_model_is_404(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError):
        _chat(client, "no-such-model")
    with pytest.raises(openai.NotFoundError):
        _chat(client, "../../etc/passwd")


def test_body_over_the_limit_is_413(client: openai.OpenAI, tiny_model_dir: Path):
    huge = [{"role": "user", "content": "x" * (1 << 20)}]
    with pytest.raises(openai.APIStatusError) as raised:
        _chat(client, str(tiny_model_dir), messages=huge)
    assert raised.value.status_code == 413


def test_rate_limited_key_gets_429_with_retry_after(
    gateway: str, redis_db: redis.Redis, tiny_model_dir: Path
):
    now = time.time()  # the key's last minute already holds the gateway's whole limit
    filled = {f"earlier-{i}": now for i in range(RATE_LIMIT)}
    redis_db.zadd(bucket_key(key_id(LIMITED_KEY)), filled)
    limited = openai.OpenAI(base_url=f"{gateway}/v1", api_key=LIMITED_KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError) as raised:
        _chat(limited, str(tiny_model_dir))
    assert 1 <= int(raised.value.response.headers["Retry-After"]) <= WINDOW_S + 1


def test_ready_and_metrics(gateway: str, client: openai.OpenAI, tiny_model_dir: Path):
    headers = {"Authorization": f"Bearer {KEY}"}
    assert httpx.get(f"{gateway}/ready", headers=headers).json()["checks"]["model"] == "ok"
    _chat(client, str(tiny_model_dir), max_tokens=2)
    metrics = httpx.get(f"{gateway}/metrics", headers=headers).text
    for name in (
        'finerag_gateway_requests_total{route="/v1/chat/completions",status="200"}',
        "finerag_gateway_time_to_first_token_seconds_count",
        "finerag_gateway_request_seconds_bucket",
        "finerag_gateway_prompt_tokens_total",
        "finerag_gateway_completion_tokens_total",
        "finerag_gateway_queue_depth",
        "finerag_gateway_batch_size_count",
    ):
        assert name in metrics, name


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def test_32_concurrent_requests_are_batched_and_each_answered_correctly(
    gateway: str, client: openai.OpenAI, tiny_model_dir: Path
):
    model = str(tiny_model_dir)
    prompts = [
        f"What does the {item} plan include?" for item in ("Free", "Pro", "Team", "Enterprise")
    ]
    prompts += [
        f"Who is the {role} for region {n}?"
        for role, n in (("manager", 2), ("lead", 5), ("owner", 7), ("agent", 9))
    ]
    expected = {
        p: _chat(client, model, messages=[{"role": "user", "content": p}], temperature=0)
        .choices[0]
        .message.content
        for p in prompts
    }
    assert len(set(expected.values())) > 1, "the prompts must be told apart"
    headers = {"Authorization": f"Bearer {KEY}"}
    before = httpx.get(f"{gateway}/metrics", headers=headers).text
    batches_before = _metric(before, "finerag_gateway_batch_size_count")
    jobs = [prompts[i % len(prompts)] for i in range(32)]
    barrier = threading.Barrier(32)

    def ask(prompt: str) -> str:
        barrier.wait()
        answer = _chat(client, model, messages=[{"role": "user", "content": prompt}], temperature=0)
        return str(answer.choices[0].message.content)

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(ask, jobs))
    assert answers == [expected[p] for p in jobs]
    after = httpx.get(f"{gateway}/metrics", headers=headers).text
    batches = _metric(after, "finerag_gateway_batch_size_count") - batches_before
    assert batches < 32, "concurrent requests for one model must share batches"
