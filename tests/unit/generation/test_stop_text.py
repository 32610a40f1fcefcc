"""Incremental text with stop sequences (one character per token in these tests)."""

from __future__ import annotations

import pytest

from shared.models.generation.stop_text import StopText


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


def _byte_decode(ids):
    """A byte-level decoder (each id one byte), as byte-level BPE decodes an unfinished UTF-8."""
    return bytes(ids).decode("utf-8", errors="replace")


def test_unfinished_characters_are_held_back():
    tracker = StopText(_byte_decode)
    e_acute = "é".encode()  # two bytes: the first alone is not a character
    assert tracker.push(ord("a")) == "a"
    assert tracker.push(e_acute[0]) == ""
    assert tracker.push(e_acute[1]) == "é"
    assert tracker.flush() == ""


def test_an_unfinished_character_at_the_end_is_flushed_as_the_full_decode_has_it():
    tracker = StopText(_byte_decode)
    for byte in b"ab" + "é".encode()[:1]:
        tracker.push(byte)
    assert tracker.text + tracker.flush() == _byte_decode(list(b"ab\xc3"))


def test_decoding_is_incremental():
    """Each token decodes a window of a few tokens, not the whole answer again."""
    lengths: list[int] = []

    def decode(ids):
        lengths.append(len(ids))
        return _decode(ids)

    tracker = StopText(decode, ("STOP",))
    for char in "x" * 500:
        tracker.push(ord(char))
    assert tracker.text + tracker.flush() == "x" * 500
    assert max(lengths) <= 2


@pytest.mark.parametrize("template", ["llama31", "chatml"])
def test_streamed_text_equals_the_whole_decode_on_real_tokenizers(template, request):
    """Incremental text on the two chat templates' tokenizers equals decoding every id at once,
    for mixed scripts, emoji split across tokens, and runs of spaces."""
    from shared.models.loading import load_tokenizer

    folder = request.getfixturevalue(
        "random_tiny_model_dir" if template == "llama31" else "smollm2_dir"
    )
    tokenizer = load_tokenizer(folder)

    def decode(ids):
        return tokenizer.decode(
            list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
        )

    text = "Price: $149 [1].  Größe — 日本語 🚲🚲 naïve\n\n  end [2]"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    tracker = StopText(decode)
    streamed = "".join(tracker.push(i) for i in ids) + tracker.flush()
    assert streamed == decode(ids) == text


def test_an_answer_sent_whole_is_decoded_once_at_the_end():
    calls: list[int] = []

    def counting_decode(ids):
        calls.append(len(ids))
        return _byte_decode(ids)

    tracker = StopText(counting_decode, incremental=False)
    ids = list("héllo wörld".encode())
    assert [tracker.push(i) for i in ids] == [""] * len(ids)
    assert calls == []
    assert tracker.flush() == "héllo wörld" == tracker.text
    assert calls == [len(ids)]


def test_stop_sequences_are_still_watched_token_by_token_when_sent_whole():
    tracker = StopText(_byte_decode, ("STOP",), incremental=False)
    for i in b"answer STOP more":
        tracker.push(i)
        if tracker.stopped:
            break
    assert tracker.stopped
    assert tracker.text == "answer "
