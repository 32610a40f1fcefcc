"""API keys: Bearer only, exact match, and the key never appears in what is reported."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from services.gateway.core.auth import authenticate, key_id
from shared.contracts.errors import AuthenticationError, NotFoundError
from shared.infrastructure.settings import ApiKey, Settings

KEYS = [ApiKey(key=SecretStr("alpha-key-123")), ApiKey(key=SecretStr("beta-key-456"))]


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
    assert first is not None
    assert second is not None
    assert first.key_id == key_id("alpha-key-123")
    assert second.key_id == key_id("beta-key-456")
    assert first.key_id != second.key_id
    assert "alpha" not in str(first)


def test_a_scoped_key_reaches_its_bases_and_meets_a_404_for_any_other():
    settings = Settings(api_keys="open-key,audit-key:audit|hr, star-key:*")
    scoped = authenticate("Bearer audit-key", settings.api_keys)
    assert scoped is not None
    assert scoped.knowledge_bases == frozenset({"audit", "hr"})
    assert scoped.check_knowledge_base("hr") == "hr"
    with pytest.raises(NotFoundError) as hidden:
        scoped.check_knowledge_base("payroll")
    assert hidden.value.message == "knowledge base 'payroll' does not exist"
    for header in ("Bearer open-key", "Bearer star-key"):
        caller = authenticate(header, settings.api_keys)
        assert caller is not None
        assert caller.knowledge_bases is None
        assert caller.check_knowledge_base("payroll") == "payroll"


@pytest.mark.parametrize("value", ["key:bad#name", ":audit", "key:audit|x/y"])
def test_a_malformed_scope_is_refused_at_startup(value: str):
    with pytest.raises(ValueError, match="FINERAG_API_KEYS"):
        Settings(api_keys=value)
