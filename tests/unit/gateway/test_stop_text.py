"""Incremental text with stop sequences (one character per token in these tests)."""

from __future__ import annotations

from services.gateway.core.stop_text import StopText


def _decode(ids):
    return "".join(chr(i) for i in ids)


def _feed(text: str, stop: tuple[str, ...]) -> tuple[list[str], StopText]:
    tracker = StopText(_decode, stop)
    deltas = []
    for char in text:
        deltas.append(tracker.push(ord(char)))
        if tracker.stopped:
            break
    deltas.append(tracker.flush())
    return deltas, tracker


def test_no_stop_streams_everything():
    deltas, _ = _feed("hello", ())
    assert "".join(deltas) == "hello"


def test_stop_cuts_before_the_sequence_and_never_leaks_part_of_it():
    deltas, tracker = _feed("abc END xyz", ("END",))
    assert tracker.stopped
    assert "".join(deltas) == "abc "
    assert not any("E" in d for d in deltas)


def test_a_partial_stop_that_does_not_complete_is_released():
    deltas, tracker = _feed("the ENvelope", ("END",))
    assert not tracker.stopped
    assert "".join(deltas) == "the ENvelope"


def test_earliest_of_several_stops_wins():
    deltas, _ = _feed("one. two! three", ("!", "."))
    assert "".join(deltas) == "one"


def test_unfinished_characters_are_held_back():
    text = {1: "a", 2: "a\ufffd", 3: "aé"}

    def decode(ids):
        return text[len(ids)]

    tracker = StopText(decode)
    assert tracker.push(1) == "a"
    assert tracker.push(2) == ""
    assert tracker.push(3) == "é"
