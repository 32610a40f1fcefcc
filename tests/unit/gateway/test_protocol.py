"""Request validation: every bad field is a 400 naming it; good requests map onto the core."""

from __future__ import annotations

import pytest

from services.gateway.api.protocol import (
    ChatCompletionRequest,
    CompletionRequestBody,
    FeedbackRequest,
    parse_body,
)
from shared.contracts.errors import InvalidRequestError

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -3}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"n": 3}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"seed": "abc"}, "seed"),
        ({"stream": "maybe"}, "stream"),
        ({"model": ""}, "model"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"rag": {"knowledge_base": "kb", "top_k": 0}}, "rag.top_k"),
        ({"rag": {"knowledge_base": "kb", "mode": "psychic"}}, "rag.mode"),
        ({"rag": {"kb": "x"}}, "rag.knowledge_base"),
    ],
)
def test_bad_chat_fields_are_400_naming_the_field(change: dict, param: str):
    with pytest.raises(InvalidRequestError) as raised:
        parse_body(ChatCompletionRequest, {**CHAT, **change})
    assert raised.value.param == param
    assert raised.value.status == 400


def test_body_must_be_an_object():
    with pytest.raises(InvalidRequestError):
        parse_body(ChatCompletionRequest, ["not", "an", "object"])
    with pytest.raises(InvalidRequestError):
        parse_body(ChatCompletionRequest, None)


def test_unknown_fields_are_ignored_and_known_ones_map_to_the_core():
    body = parse_body(
        ChatCompletionRequest,
        {
            **CHAT,
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ],
            "max_completion_tokens": 7,
            "stop": "END",
            "seed": 3,
            "logit_bias": {},  # not served: ignored
            "rag": {"knowledge_base": "acme", "top_k": 2, "mode": "dense", "step_by_step": True},
        },
    )
    core = body.to_core()
    assert core.messages == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "ab"},
    ]
    assert core.max_tokens == 7
    assert core.stop == ("END",)
    assert core.seed == 3
    assert core.rag is not None
    assert core.rag.top_k == 2
    assert core.rag.step_by_step is True


def test_stream_options_include_usage():
    body = parse_body(
        ChatCompletionRequest, {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert body.include_usage
    assert not parse_body(ChatCompletionRequest, CHAT).include_usage


def test_completion_takes_one_prompt():
    core = parse_body(CompletionRequestBody, {"model": "m", "prompt": ["once"]}).to_core()
    assert core.prompt == "once"
    assert core.kind == "text"
    with pytest.raises(InvalidRequestError):
        parse_body(CompletionRequestBody, {"model": "m", "prompt": ["a", "b"]})


def test_feedback_rating_is_up_or_down():
    assert parse_body(FeedbackRequest, {"completion_id": "c", "rating": "up"}).rating == "up"
    with pytest.raises(InvalidRequestError) as raised:
        parse_body(FeedbackRequest, {"completion_id": "c", "rating": "meh"})
    assert raised.value.param == "rating"
