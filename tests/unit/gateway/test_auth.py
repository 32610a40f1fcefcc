"""API keys: Bearer only, exact match, and the key never appears in what is reported."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from services.gateway.core.auth import authenticate, key_id
from shared.errors import AuthenticationError

KEYS = [SecretStr("alpha-key-123"), SecretStr("beta-key-456")]


def test_no_keys_configured_means_open():
    assert authenticate(None, []) is None


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic alpha-key-123",
        "alpha-key-123",
        "Bearer alpha-key-12",
        "Bearer alpha-key-1234",
        "Bearer ALPHA-KEY-123",
    ],
)
def test_missing_or_wrong_keys_are_401(header: str | None):
    with pytest.raises(AuthenticationError) as raised:
        authenticate(header, KEYS)
    assert raised.value.status == 401
    assert "key-123" not in raised.value.message


def test_each_configured_key_works_and_is_identified_without_revealing_it():
    first = authenticate("Bearer alpha-key-123", KEYS)
    second = authenticate("bearer beta-key-456", KEYS)
    assert first == key_id("alpha-key-123")
    assert second == key_id("beta-key-456")
    assert first != second
    assert "alpha" not in str(first)
