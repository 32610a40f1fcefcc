"""Context budgeting: sources fill what is left, lowest-ranked dropped first, messages never cut."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.gateway.core.context_budget import fit_sources
from shared.contracts.errors import InvalidRequestError


def _counter(base: int, sizes: dict[str, int]):
    def count(subset: Sequence[str]) -> int:
        return base + sum(sizes[s] for s in subset)

    return count


SIZES = {"best": 30, "second": 30, "third": 30, "worst": 30}


def test_everything_fits():
    kept = fit_sources(list(SIZES), _counter(100, SIZES), max_tokens=50, context_window=1000)
    assert kept == ["best", "second", "third", "worst"]


def test_lowest_ranked_are_dropped_first():
    # 100 + 50 leaves 70 tokens: two sources of 30.
    kept = fit_sources(list(SIZES), _counter(100, SIZES), max_tokens=50, context_window=220)
    assert kept == ["best", "second"]


def test_a_big_source_stops_the_fill_without_skipping_rank():
    sizes = {"best": 10, "huge": 500, "small": 10}
    kept = fit_sources(
        ["best", "huge", "small"], _counter(0, sizes), max_tokens=10, context_window=100
    )
    assert kept == ["best"]


def test_no_room_for_any_source_keeps_the_messages():
    kept = fit_sources(list(SIZES), _counter(100, SIZES), max_tokens=50, context_window=160)
    assert kept == []


def test_messages_over_the_context_are_refused_with_the_counts():
    with pytest.raises(InvalidRequestError) as raised:
        fit_sources(list(SIZES), _counter(300, SIZES), max_tokens=50, context_window=320)
    message = raised.value.message
    assert "300 tokens" in message
    assert "max_tokens is 50" in message
    assert "320" in message
    assert raised.value.code == "context_length_exceeded"
