"""Token-aware chunking: pack whole sentences into chunks of at most N embedder tokens.

Chunks never cross a section (heading or page) boundary and never split a word. A sentence
longer than a chunk is cut between words. Consecutive chunks of a section share up to
`overlap_tokens` of whole trailing sentences, so a fact on a boundary is whole in one of them.
Token counts are additive over whitespace-separated pieces for WordPiece tokenizers such as
MiniLM's, so the sum of the sentences' counts is the chunk's count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.ingestion.core.documents import Section
from services.ingestion.core.tokens import TokenCounter

# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by whitespace.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+")


@dataclass(frozen=True)
class TextChunk:
    """A chunk's text and the section it came from."""

    section: str
    text: str
    tokens: int


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    starts_paragraph: bool


def split_sentences(paragraph: str) -> list[str]:
    """The sentences of a paragraph; each line of a list or table is its own sentence."""
    sentences: list[str] = []
    for line in paragraph.split("\n"):
        sentences.extend(part.strip() for part in _SENTENCE_END.split(line) if part.strip())
    return sentences


class Chunker:
    """Splits sections into chunks that fit the embedder's window."""

    def __init__(self, count_tokens: TokenCounter, *, chunk_tokens: int, overlap_tokens: int):
        if chunk_tokens < 16:
            raise ValueError("chunk_tokens must be at least 16")
        if not 0 <= overlap_tokens < chunk_tokens // 2:
            raise ValueError(
                f"overlap_tokens ({overlap_tokens}) must be less than half of chunk_tokens "
                f"({chunk_tokens}); lower FINERAG_CHUNK_OVERLAP_TOKENS"
            )
        self._count = count_tokens
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens

    def _split_long(self, sentence: str, tokens: int) -> list[tuple[str, int]]:
        """Cut a sentence longer than a chunk between words."""
        words = sentence.split()
        counts = self._count(words)
        pieces: list[tuple[str, int]] = []
        current: list[str] = []
        current_tokens = 0
        for word, count in zip(words, counts, strict=True):
            if current and current_tokens + count > self.chunk_tokens:
                pieces.append((" ".join(current), current_tokens))
                current, current_tokens = [], 0
            current.append(word)  # a single word longer than a chunk stays whole
            current_tokens += count
        if current:
            pieces.append((" ".join(current), current_tokens))
        return pieces

    def _units(self, text: str) -> list[_Unit]:
        units: list[_Unit] = []
        for paragraph in re.split(r"\n\s*\n", text):
            sentences = split_sentences(paragraph)
            counts = self._count(sentences) if sentences else []
            first = True
            for sentence, count in zip(sentences, counts, strict=True):
                pieces = (
                    self._split_long(sentence, count)
                    if count > self.chunk_tokens
                    else [(sentence, count)]
                )
                for piece, piece_tokens in pieces:
                    units.append(_Unit(piece, piece_tokens, first))
                    first = False
        return units

    def _overlap(self, window: list[_Unit]) -> list[_Unit]:
        carried: list[_Unit] = []
        total = 0
        for unit in reversed(window):
            if total + unit.tokens > self.overlap_tokens:
                break
            carried.insert(0, unit)
            total += unit.tokens
        return carried

    @staticmethod
    def _join(window: Sequence[_Unit]) -> str:
        text = ""
        for position, unit in enumerate(window):
            if position:
                text += "\n\n" if unit.starts_paragraph else " "
            text += unit.text
        return text

    def chunk_section(self, section: Section) -> list[TextChunk]:
        """The chunks of one section, in order."""
        chunks: list[TextChunk] = []
        window: list[_Unit] = []
        fresh = 0  # units in the window that no earlier chunk holds
        for unit in self._units(section.text):
            if window and sum(u.tokens for u in window) + unit.tokens > self.chunk_tokens:
                if fresh:
                    chunks.append(self._emit(section, window))
                window = self._overlap(window)
                while window and sum(u.tokens for u in window) + unit.tokens > self.chunk_tokens:
                    window.pop(0)
                fresh = 0
            window.append(unit)
            fresh += 1
        if window and fresh:
            chunks.append(self._emit(section, window))
        return chunks

    def _emit(self, section: Section, window: Sequence[_Unit]) -> TextChunk:
        return TextChunk(section.heading, self._join(window), sum(u.tokens for u in window))

    def chunk_sections(self, sections: Sequence[Section]) -> list[TextChunk]:
        """The chunks of a document's sections, in order."""
        return [chunk for section in sections for chunk in self.chunk_section(section)]
