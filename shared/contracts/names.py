"""The one validator of the names callers give things: knowledge bases and models.

A name goes into URLs, Qdrant collection names, folder names and log lines, so it is a short
run of safe characters, matched whole (a trailing newline, a control character, `#`, `?`, `/`
or `..` never gets through). Every service checks names here, and the clients quote them in
URLs as well.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from shared.contracts.errors import InvalidRequestError, NotFoundError

_KB = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def check_kb_name(kb: str, *, param: str = "kb") -> str:
    """`kb` if it is a valid knowledge-base name, else a 400."""
    if not isinstance(kb, str) or not _KB.fullmatch(kb):
        raise InvalidRequestError(
            f"invalid knowledge base name {kb!r}: use 1-63 letters, digits, '-' or '_', "
            "starting with a letter or digit",
            param=param,
        )
    return kb


def validate_model_name(name: str, *, param: str = "model") -> str:
    """`name` if it is a valid registry name (a safe folder name, never a path), else a 400."""
    if not isinstance(name, str) or not _MODEL.fullmatch(name) or ".." in name:
        raise InvalidRequestError(
            f"Invalid model name {name!r}: use letters, digits and ._:- (at most 128).",
            param=param,
        )
    return name


def _kb_value(value: str) -> str:
    try:
        return check_kb_name(value)
    except InvalidRequestError as exc:
        raise ValueError(exc.message) from None


KnowledgeBaseName = Annotated[str, AfterValidator(_kb_value)]
"""A knowledge-base name as a pydantic field type (a bad one is a validation error)."""


def knowledge_base_not_found(kb: str) -> NotFoundError:
    """The 404 for a knowledge base that does not exist (or that the caller may not see)."""
    return NotFoundError(f"knowledge base {kb!r} does not exist", param="kb")
