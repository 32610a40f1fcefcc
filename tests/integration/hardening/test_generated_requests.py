"""Generated inputs against the real processes: never a 5xx, always the wire shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.integration.hardening.stack import (
    OPEN_KB,
    TOKEN,
    Stack,
)

pytestmark = pytest.mark.integration


# Generated calls may create or delete knowledge bases: this module has a stack of its own.
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same inputs on every run: a failure reproduces
)


def _no_server_error(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "code", "param"}, error


@pytest.mark.parametrize(
    ("service", "mode"),
    [
        ("retrieval", GenerationMode.POSITIVE),
        ("retrieval", GenerationMode.NEGATIVE),
        # Ingestion's schema has no constrained input to break (an upload is read from the raw
        # request, names are free strings checked in code): positive cases only.
        ("ingestion", GenerationMode.POSITIVE),
    ],
    ids=["retrieval-positive", "retrieval-negative", "ingestion-positive"],
)
def test_generated_requests_from_the_openapi_schema_never_get_a_5xx(
    stack: Stack, service: str, mode: GenerationMode
):
    """schemathesis: requests that fit the service's schema (positive) and that break it."""
    url = stack.retrieval_url if service == "retrieval" else stack.ingestion_url
    headers = {"Authorization": f"Bearer {TOKEN}"}
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", headers=headers)
    seen: list[int] = []

    @EXAMPLES
    @given(schema.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call(base_url=url, headers=headers)
        seen.append(response.status_code)
        _no_server_error(response)

    check()
    assert seen, "no request was generated"
    if mode is GenerationMode.NEGATIVE:
        assert any(400 <= status < 500 for status in seen), "no generated input was refused"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def chat_bodies(model: str) -> st.SearchStrategy[dict[str, Any]]:
    """Chat requests near the valid ones: each field right, wrong in type, or out of range."""
    message = st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "tool", ""]) | JSON_VALUES},
        optional={"content": st.text(max_size=40) | JSON_VALUES, "name": JSON_VALUES},
    )
    return st.fixed_dictionaries(
        {"model": st.just(model) | JSON_VALUES, "messages": st.lists(message, max_size=3)},
        optional={
            "max_tokens": st.integers(-5, 6) | JSON_VALUES,
            "temperature": st.floats(-1, 3) | JSON_VALUES,
            "top_p": st.floats(-1, 2) | JSON_VALUES,
            "seed": st.integers(-(2**70), 2**70) | JSON_VALUES,
            "stop": st.lists(st.text(max_size=5), max_size=6) | JSON_VALUES,
            "stream": st.booleans() | JSON_VALUES,
            "rag": st.fixed_dictionaries(
                {"knowledge_base": st.sampled_from([OPEN_KB, "", "no such"]) | JSON_VALUES},
                optional={"top_k": JSON_VALUES, "mode": JSON_VALUES},
            )
            | JSON_VALUES,
            "n": JSON_VALUES,
            "extra_field": JSON_VALUES,
        },
    )


def test_the_gateway_answers_generated_chat_requests_without_a_5xx(
    api: httpx.Client, tiny_model_dir: Path
):
    @EXAMPLES
    @given(chat_bodies(str(tiny_model_dir)))
    def check(body: dict[str, Any]) -> None:
        if isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 2:
            body = {**body, "max_tokens": 2}  # valid requests generate: keep them short
        _no_server_error(api.post("/v1/chat/completions", json=body))

    check()


def test_the_gateway_answers_generated_feedback_and_job_requests_without_a_5xx(api: httpx.Client):
    @EXAMPLES
    @given(
        st.sampled_from(["/v1/feedback", "/v1/fine_tuning/jobs"]),
        st.dictionaries(
            st.sampled_from(
                ["completion_id", "rating", "correction", "model", "training_file", "config",
                 "hyperparameters", "suffix", "seed", "knowledge_base", "method", "evaluation"]
            ),
            JSON_VALUES,
        ),
    )  # fmt: skip
    def check(path: str, body: dict[str, Any]) -> None:
        _no_server_error(api.post(path, json=body))

    check()
