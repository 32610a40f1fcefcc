"""API keys: Bearer tokens compared in constant time; keys themselves are never logged."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from pydantic import SecretStr

from shared.errors import AuthenticationError


def key_id(key: str) -> str:
    """A short, non-reversible name for a key (for rate-limit buckets and logs)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def authenticate(authorization: str | None, keys: Sequence[SecretStr]) -> str | None:
    """The caller's key id, None when no keys are configured; 401 for a missing or wrong key.

    Every configured key is compared (no early exit), each with `hmac.compare_digest`.
    """
    if not keys:
        return None
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError(
            "Missing API key: send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
        )
    given = token.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.get_secret_value().encode("utf-8"))
    if not matched:
        raise AuthenticationError("Incorrect API key provided.")
    return key_id(token)
