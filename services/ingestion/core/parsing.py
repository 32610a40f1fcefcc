"""Read documents: Markdown, plain text, HTML (visible text), PDF (per page) and JSONL records.

Each reader turns bytes into `ParsedDocument`s made of sections; the section heading is what a
search hit cites (a heading path like "Billing > Refunds", or "p. 3" for a PDF page).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any

from services.ingestion.core.documents import ParsedDocument, Section, UnreadableDocumentError
from shared.contracts.errors import InvalidRequestError, UnsupportedMediaTypeError
from shared.contracts.schemas import content_hash
from shared.contracts.wire_json import read_json, split_jsonl_lines

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".jsonl")

_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_INVISIBLE_TAGS = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "li", "ul", "ol", "br", "tr", "table", "section", "article", "header",
     "footer", "blockquote", "pre", "dd", "dt", "main", "nav", "aside", "hr"}
)  # fmt: skip


def check_supported(name: str) -> str:
    """The file's lower-case suffix if it is readable, else a 415 naming the readable types."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedMediaTypeError(
            f"cannot read {name!r}: supported file types are {', '.join(SUPPORTED_SUFFIXES)}",
            param="files",
        )
    return suffix


def _decode(name: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocumentError(f"{name}: not valid UTF-8 text ({exc.reason})") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _stem_title(name: str) -> str:
    return PurePosixPath(name).stem.replace("_", " ").replace("-", " ").strip()


class _Sections:
    """Collects text under a stack of headings: `start(level, title)` opens a new section."""

    def __init__(self) -> None:
        self._path: list[tuple[int, str]] = []
        self._lines: list[str] = []
        self.sections: list[Section] = []
        self.first_h1 = ""

    def heading(self) -> str:
        return " > ".join(title for _, title in self._path)

    def flush(self) -> None:
        text = "\n".join(self._lines).strip()
        text = re.sub(r"\n{3,}", "\n\n", text)
        if text:
            self.sections.append(Section(self.heading(), text))
        self._lines = []

    def start(self, level: int, title: str) -> None:
        self.flush()
        title = " ".join(title.split())
        if level == 1 and not self.first_h1:
            self.first_h1 = title
        self._path = [(lvl, t) for lvl, t in self._path if lvl < level] + [(level, title)]

    def add(self, line: str) -> None:
        self._lines.append(line)


def parse_markdown(doc_id: str, text: str, version: str) -> ParsedDocument:
    """Markdown: ATX headings open sections named by their heading path."""
    collected = _Sections()
    in_fence = False
    lines = text.split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter is metadata, not content
        closing = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
        if closing is not None:
            lines = lines[closing + 1 :]
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
            collected.add(line)
            continue
        match = None if in_fence else _ATX_HEADING.match(line)
        if match:
            collected.start(len(match.group(1)), match.group(2))
        else:
            collected.add(_MD_LINK.sub(r"\1", line))
    collected.flush()
    title = collected.first_h1 or _stem_title(doc_id)
    return ParsedDocument(doc_id, doc_id, title, version, collected.sections)


def parse_text(doc_id: str, text: str, version: str) -> ParsedDocument:
    """Plain text: one section; the title is the file name."""
    body = re.sub(r"\n{3,}", "\n\n", text).strip()
    sections = [Section("", body)] if body else []
    return ParsedDocument(doc_id, doc_id, _stem_title(doc_id), version, sections)


class _VisibleText(HTMLParser):
    """HTML to sections: visible text only, `<h1>`..`<h6>` open sections."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.collected = _Sections()
        self.title = ""
        self._hidden = 0
        self._heading: tuple[int, list[str]] | None = None
        self._in_title = False
        self._line: list[str] = []

    def _end_line(self) -> None:
        line = " ".join("".join(self._line).split())
        if line:
            self.collected.add(line)
        self._line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _INVISIBLE_TAGS:
            self._hidden += 1
        elif tag in _HEADING_TAGS and not self._hidden:
            self._end_line()
            self._heading = (_HEADING_TAGS[tag], [])
        elif tag in _BLOCK_TAGS:
            self._end_line()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _INVISIBLE_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _HEADING_TAGS and self._heading is not None:
            level, parts = self._heading
            self._heading = None
            self.collected.start(level, "".join(parts))
        elif tag in _BLOCK_TAGS:
            self._end_line()
            if tag in ("p", "ul", "ol", "table", "pre", "blockquote"):
                self.collected.add("")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._hidden:
            return
        if self._heading is not None:
            self._heading[1].append(data)
        else:
            self._line.append(data)


def parse_html(doc_id: str, text: str, version: str) -> ParsedDocument:
    """HTML: visible text only; `<title>` or the first `<h1>` is the title."""
    reader = _VisibleText()
    reader.feed(text)
    reader.close()
    reader._end_line()
    reader.collected.flush()
    title = " ".join(reader.title.split()) or reader.collected.first_h1 or _stem_title(doc_id)
    return ParsedDocument(doc_id, doc_id, title, version, reader.collected.sections)


def parse_pdf(doc_id: str, data: bytes, version: str) -> ParsedDocument:
    """PDF: one section per page with text, named "p. N"."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.strip():
        raise UnreadableDocumentError(f"{doc_id}: the PDF file is empty")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocumentError(f"{doc_id}: the PDF is encrypted with a password")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.get("/Title") or "") if reader.metadata else ""
    except UnreadableDocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, NotImplementedError) as exc:
        raise UnreadableDocumentError(
            f"{doc_id}: the PDF is corrupt or unreadable ({exc})"
        ) from exc
    sections = [
        Section(f"p. {number}", re.sub(r"[ \t]+", " ", text).strip())
        for number, text in enumerate(pages, start=1)
        if text.strip()
    ]
    return ParsedDocument(doc_id, doc_id, title or _stem_title(doc_id), version, sections)


def parse_record(doc_id: str, text: str, metadata: dict[str, Any]) -> ParsedDocument:
    """A document given as text + metadata (JSON upload or a JSONL line).

    Markdown when the id or `metadata["format"]` says so, else plain text; `title`, `source` and
    `tags` in the metadata override the defaults. Its version covers text and metadata.
    """
    version = content_hash(text + "\0" + json.dumps(metadata, sort_keys=True, default=str))
    is_markdown = metadata.get("format") == "markdown" or doc_id.lower().endswith(
        (".md", ".markdown")
    )
    parsed = (parse_markdown if is_markdown else parse_text)(doc_id, text, version)
    tags = metadata.get("tags") or []
    return ParsedDocument(
        doc_id=doc_id,
        source=str(metadata.get("source") or doc_id),
        title=str(metadata.get("title") or parsed.title),
        version=version,
        sections=parsed.sections,
        tags=[str(tag) for tag in tags] if isinstance(tags, list) else [str(tags)],
    )


def parse_jsonl(name: str, text: str) -> list[ParsedDocument]:
    """JSONL: one document per line, `{"id", "text", "metadata"}`."""
    documents = []
    for number, line in split_jsonl_lines(text):
        try:
            record = read_json(line, what=f"{name} line {number}")
            doc_id, body = str(record["id"]), record["text"]
            metadata = record.get("metadata") or {}
            if not isinstance(body, str) or not isinstance(metadata, dict):
                raise TypeError("text must be a string and metadata an object")
        except InvalidRequestError as exc:
            raise UnreadableDocumentError(exc.message) from None
        except (KeyError, TypeError) as exc:
            raise UnreadableDocumentError(
                f"{name} line {number}: expected {{'id', 'text', 'metadata'}} ({exc})"
            ) from exc
        documents.append(parse_record(doc_id, body, metadata))
    return documents


_TEXT_READERS: dict[str, Callable[[str, str, str], ParsedDocument]] = {
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".txt": parse_text,
    ".html": parse_html,
    ".htm": parse_html,
}


def parse_file(doc_id: str, data: bytes) -> list[ParsedDocument]:
    """The documents in a file (one, or one per JSONL line), by the suffix of its name.

    Raises:
        UnsupportedMediaTypeError: the suffix is not one of SUPPORTED_SUFFIXES.
        UnreadableDocumentError: the file is empty, corrupt, encrypted or holds no text.
    """
    suffix = check_supported(doc_id)
    if suffix == ".pdf":
        documents = [parse_pdf(doc_id, data, content_hash(data))]
    elif suffix == ".jsonl":
        documents = parse_jsonl(doc_id, _decode(doc_id, data))
    else:
        documents = [_TEXT_READERS[suffix](doc_id, _decode(doc_id, data), content_hash(data))]
    for document in documents:
        if not document.sections:
            raise UnreadableDocumentError(f"{document.doc_id}: the document holds no text")
    if not documents:
        raise UnreadableDocumentError(f"{doc_id}: the file holds no documents")
    return documents
