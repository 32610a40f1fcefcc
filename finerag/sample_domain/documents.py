"""The document model: what each knowledge-base file says, and which facts it carries where.

A document is a title, an intro and sections; a section holds prose, "Label: value" lines and
numbered steps. Every fact a question may ask about is recorded on the section whose line
states it, so a PDF page (one per section) can be checked against the facts printed on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Subject:
    """What a question is about, as the question names it."""

    phrase: str  # "the Velmora X2 air purifier"
    terse: str  # "velmora x2": how a hurried customer types it
    extras: tuple[tuple[str, str], ...] = ()  # more template fields, e.g. (("k", "3"),)

    def fields(self, brand: str) -> dict[str, str]:
        """The values for a wording's placeholders."""
        return {"e": self.phrase, "t": self.terse, "c": brand, **dict(self.extras)}


@dataclass(frozen=True)
class Fact:
    """One answerable fact: its kind (a key of wording.WORDINGS), subject and short answer."""

    kind: str
    subject: Subject
    answer: str


@dataclass
class Section:
    """A heading with prose, labelled values and steps, in that order."""

    heading: str
    paragraphs: list[str] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (label, value)
    steps: list[str] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)

    def state(
        self, label: str, value: str, kind: str | None = None, subject: Subject | None = None
    ) -> None:
        """Write "label: value"; with a kind and subject, record it as an askable fact."""
        self.lines.append((label, value))
        if kind is not None and subject is not None:
            self.facts.append(Fact(kind, subject, value))


@dataclass
class Document:
    """One knowledge-base file before rendering; its id is its path under kb/."""

    doc_id: str  # "policies/returns.html"
    title: str
    intro: str
    sections: list[Section] = field(default_factory=list)

    @property
    def fmt(self) -> str:
        """File format from the extension: md, txt, html or pdf."""
        return PurePosixPath(self.doc_id).suffix.lstrip(".")

    def section(self, heading: str, *paragraphs: str) -> Section:
        """Append a new section and return it."""
        new = Section(heading, list(paragraphs))
        self.sections.append(new)
        return new

    @property
    def facts(self) -> list[Fact]:
        """All facts, in document order."""
        return [fact for section in self.sections for fact in section.facts]


def slug(text: str) -> str:
    """ "Velmora X2" -> "velmora-x2": file names of documents."""
    return "-".join("".join(c for c in word if c.isalnum()) for word in text.lower().split())
