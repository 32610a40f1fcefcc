"""Incremental answer text with stop sequences: emit only what can no longer become a stop."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Decode = Callable[[Sequence[int]], str]


class StopText:
    """Turns generated token ids into text deltas, cutting at the first stop sequence.

    The whole answer is decoded again after each token (byte-level BPE can finish a character
    only with a later token), and a tail that could still grow into a stop sequence, or that
    ends in an unfinished character, is held back until the next token settles it.
    """

    def __init__(self, decode: Decode, stop: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stop = tuple(s for s in stop if s)
        self._ids: list[int] = []
        self._emitted = 0
        self.stopped = False

    @property
    def text(self) -> str:
        """Everything emitted so far."""
        return self._decode(self._ids)[: self._emitted] if self._ids else ""

    def push(self, token_id: int) -> str:
        """Add a token; return the new text that is safe to send (may be empty)."""
        self._ids.append(token_id)
        full = self._decode(self._ids)
        cut = self._first_stop(full)
        if cut is not None:
            self.stopped = True
            return self._emit(full, cut)
        safe = len(full) - self._held_back(full)
        return self._emit(full, safe)

    def flush(self) -> str:
        """At the end of generation: release whatever was held back."""
        if self.stopped or not self._ids:
            return ""
        full = self._decode(self._ids)
        return self._emit(full, len(full))

    def _emit(self, full: str, upto: int) -> str:
        if upto <= self._emitted:
            return ""
        delta = full[self._emitted : upto]
        self._emitted = upto
        return delta

    def _first_stop(self, full: str) -> int | None:
        # Search a little before what was already emitted: a stop may straddle the boundary.
        start = max(0, self._emitted - max((len(s) for s in self._stop), default=0))
        hits = [i for s in self._stop if (i := full.find(s, start)) != -1]
        return min(hits) if hits else None

    def _held_back(self, full: str) -> int:
        """Length of the tail that must wait: a partial character or a partial stop."""
        tail = 0
        while tail < len(full) and full[len(full) - 1 - tail] == "\ufffd":
            tail += 1
        for stop in self._stop:
            for size in range(min(len(stop) - 1, len(full)), 0, -1):
                if full.endswith(stop[:size]):
                    tail = max(tail, size)
                    break
        return min(tail, max(0, len(full) - self._emitted))
