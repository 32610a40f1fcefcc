"""API keys: Bearer tokens compared in constant time; keys themselves are never logged.

A key may be scoped to knowledge bases (`FINERAG_API_KEYS=KEY:kb1|kb2`). A base outside a key's
scope is answered exactly as a base that does not exist (404, same message), so a key cannot
learn which other bases there are.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from shared.contracts.errors import AuthenticationError
from shared.contracts.names import knowledge_base_not_found
from shared.infrastructure.settings import ApiKey


def key_id(key: str) -> str:
    """A short, non-reversible name for a key (for rate-limit buckets and logs)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the key's id and the knowledge bases it may use (None: all)."""

    key_id: str
    knowledge_bases: frozenset[str] | None = None

    def check_knowledge_base(self, knowledge_base: str) -> str:
        """`knowledge_base` if this caller may use it, else the 404 of a missing base."""
        if self.knowledge_bases is not None and knowledge_base not in self.knowledge_bases:
            raise knowledge_base_not_found(knowledge_base)
        return knowledge_base


def authenticate(authorization: str | None, keys: Sequence[ApiKey]) -> Caller | None:
    """The caller, None when no keys are configured; 401 for a missing or wrong key.

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
    matched: ApiKey | None = None
    for key in keys:
        if hmac.compare_digest(given, key.key.get_secret_value().encode("utf-8")):
            matched = key
    if matched is None:
        raise AuthenticationError("Incorrect API key provided.")
    return Caller(key_id(token), matched.knowledge_bases)
