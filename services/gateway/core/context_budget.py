"""Context budgeting: the user's messages and max_tokens come first, sources fill the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from shared.contracts.errors import InvalidRequestError

SourceT = TypeVar("SourceT")


def fit_sources(
    sources: Sequence[SourceT],
    count_tokens: Callable[[Sequence[SourceT]], int],
    *,
    max_tokens: int,
    context_window: int,
) -> list[SourceT]:
    """The best-ranked prefix of `sources` whose prompt still leaves room for `max_tokens`.

    `sources` are best first; `count_tokens(subset)` is the prompt's size with that subset.
    The lowest-ranked sources are dropped first. The messages themselves are never cut: if
    they do not fit with no sources at all, the request is refused with the counts.

    Raises:
        InvalidRequestError: the messages plus max_tokens exceed the context window.
    """
    bare = count_tokens([])
    if bare + max_tokens > context_window:
        raise InvalidRequestError(
            f"The messages take {bare} tokens and max_tokens is {max_tokens}: together "
            f"{bare + max_tokens}, over the context window of {context_window} tokens. "
            "Shorten the messages or lower max_tokens.",
            param="messages",
            code="context_length_exceeded",
        )
    kept: list[SourceT] = []
    for source in sources:
        if count_tokens([*kept, source]) + max_tokens > context_window:
            break
        kept.append(source)
    return kept
