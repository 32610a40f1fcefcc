"""Incremental answer text with stop sequences: emit only what can no longer become a stop."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Decode = Callable[[Sequence[int]], str]


class StopText:
    """Turns generated token ids into text deltas, cutting at the first stop sequence.

    Detokenization is incremental (as in TGI and vLLM): each new token is decoded together with
    the few tokens before it, and the text it adds is the difference from decoding those few
    alone, so the cost per token does not grow with the answer. Byte-level BPE finishes some
    characters only with a later token; a tail that ends in an unfinished character, or that
    could still grow into a stop sequence, is held back until the next token settles it.

    With `incremental=False` and no stop sequences nothing needs the text before the end (an
    answer sent whole): tokens are only collected, and `flush` decodes them once, which spares
    the batch worker two decodes per row and token.
    """

    def __init__(
        self, decode: Decode, stop: Sequence[str] = (), *, incremental: bool = True
    ) -> None:
        self._decode = decode
        self._stop = tuple(s for s in stop if s)
        self._incremental = incremental or bool(self._stop)
        self._longest_stop = max((len(s) for s in self._stop), default=0)
        self._ids: list[int] = []
        self._full = ""  # the text of self._ids[: self._read]
        self._prefix = 0  # context tokens decoded before the new ones (spacing, merges)
        self._read = 0  # tokens whose text is in self._full
        self._emitted = 0
        self.stopped = False

    @property
    def text(self) -> str:
        """Everything emitted so far."""
        return self._full[: self._emitted]

    def push(self, token_id: int) -> str:
        """Add a token; return the new text that is safe to send (may be empty)."""
        self._ids.append(token_id)
        if not self._incremental:
            return ""
        self._settle(final=False)
        cut = self._first_stop()
        if cut is not None:
            self.stopped = True
            return self._emit(cut)
        return self._emit(len(self._full) - self._held_back())

    def flush(self) -> str:
        """At the end of generation: release whatever was held back."""
        if self.stopped or not self._ids:
            return ""
        if self._incremental:
            self._settle(final=True)
        else:  # the whole answer at once
            self._full, self._read = self._decode(self._ids), len(self._ids)
        return self._emit(len(self._full))

    def _settle(self, *, final: bool) -> None:
        """Move the text of the unread tokens into `_full` once it is whole characters."""
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) <= len(before) or (after.endswith("\ufffd") and not final):
            return  # nothing printable yet, or a character still needs its next bytes
        self._full += after[len(before) :]
        self._prefix, self._read = self._read, len(self._ids)

    def _emit(self, upto: int) -> str:
        if upto <= self._emitted:
            return ""
        delta = self._full[self._emitted : upto]
        self._emitted = upto
        return delta

    def _first_stop(self) -> int | None:
        # Search a little before what was already emitted: a stop may straddle the boundary.
        start = max(0, self._emitted - self._longest_stop)
        hits = [i for s in self._stop if (i := self._full.find(s, start)) != -1]
        return min(hits) if hits else None

    def _held_back(self) -> int:
        """Length of the tail that must wait because it could grow into a stop sequence."""
        full, tail = self._full, 0
        for stop in self._stop:
            for size in range(min(len(stop) - 1, len(full)), 0, -1):
                if full.endswith(stop[:size]):
                    tail = max(tail, size)
                    break
        return min(tail, max(0, len(full) - self._emitted))
