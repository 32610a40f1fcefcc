"""What parsing produces and chunking consumes: a document as titled sections of text."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.contracts.errors import InvalidRequestError


class UnreadableDocumentError(InvalidRequestError):
    """A file that cannot be read: empty, encrypted, corrupt, or with no text (per-file error)."""

    default_code = "unreadable_document"


@dataclass(frozen=True)
class Section:
    """A run of text under one heading (Markdown/HTML) or on one page (PDF)."""

    heading: str
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    """A document ready to chunk; `version` is the content hash of what it was read from."""

    doc_id: str
    source: str
    title: str
    version: str
    sections: list[Section]
    tags: list[str] = field(default_factory=list)
