"""A minimal PDF writer (and a reader for its own output), so the sample needs no PDF library.

The file is PDF 1.4 with two standard fonts (Helvetica and Helvetica-Bold, which every reader
knows without embedded glyphs), one uncompressed content stream per page drawing lines with
BT/Tf/Td/Tj/ET, and an xref table with exact byte offsets. Text must be ASCII: the standard
fonts use a single-byte encoding, and ASCII keeps extraction byte-for-byte predictable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US Letter, in points
MARGIN = 72
MAX_LINES_PER_PAGE = 44  # at the body leading below, what fits between the margins


@dataclass(frozen=True)
class PdfLine:
    """One line of text; `bold` headings use Helvetica-Bold, body lines Helvetica."""

    text: str
    size: int = 11
    bold: bool = False


def _escape(text: str) -> str:
    """A PDF literal string body: backslash and parentheses are escaped."""
    if not text.isascii():
        raise ValueError(f"PDF text must be ASCII: {text!r}")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content_stream(lines: list[PdfLine]) -> bytes:
    """Draw lines top-down: one Td move per line, so extractors see one line per Tj."""
    ops = ["BT", f"{MARGIN} {PAGE_HEIGHT - MARGIN} Td"]
    for line in lines:
        font = "/F2" if line.bold else "/F1"
        ops.append(f"{font} {line.size} Tf")
        ops.append(f"({_escape(line.text)}) Tj")
        ops.append(f"0 -{round(line.size * 1.45)} Td")
    ops.append("ET")
    return ("\n".join(ops) + "\n").encode("ascii")


def build_pdf(pages: list[list[PdfLine]]) -> bytes:
    """The bytes of a PDF whose page i shows `pages[i]`, one line per entry."""
    for number, lines in enumerate(pages, start=1):
        if len(lines) > MAX_LINES_PER_PAGE:
            raise ValueError(f"page {number} has {len(lines)} lines; at most {MAX_LINES_PER_PAGE}")
    # Object numbers: 1 catalog, 2 page tree, 3-4 fonts, then (page, content) pairs.
    page_ids = [5 + 2 * i for i in range(len(pages))]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        (
            f"<< /Type /Pages /Kids [{' '.join(f'{i} 0 R' for i in page_ids)}] "
            f"/Count {len(pages)} >>"
        ).encode("ascii"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    for page_id, lines in zip(page_ids, pages, strict=True):
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
                f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {page_id + 1} 0 R >>"
            ).encode("ascii")
        )
        stream = _content_stream(lines)
        objects.append(
            f"<< /Length {len(stream)} >>\nstream\n".encode("ascii") + stream + b"endstream"
        )
    # The binary comment line tells transfer tools the file is binary, as the spec advises.
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref_at = len(out)
    # Each xref entry is exactly 20 bytes: 10-digit offset, 5-digit generation, flag, EOL.
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n"
    ).encode("ascii")
    return bytes(out)


_STREAM = re.compile(rb"stream\n(.*?)endstream", re.DOTALL)
_SHOWN = re.compile(rb"\(((?:\\.|[^\\)])*)\) Tj")


def read_pdf_pages(data: bytes) -> list[str]:
    """The text of each page of a PDF written by `build_pdf` (not a general PDF reader)."""
    pages = []
    for stream in _STREAM.findall(data):
        lines = [
            re.sub(rb"\\(.)", rb"\1", shown).decode("ascii") for shown in _SHOWN.findall(stream)
        ]
        pages.append("\n".join(lines))
    return pages
