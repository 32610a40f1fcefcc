"""Write a document as Markdown, plain text, HTML or PDF, and read any of them back as text.

Labelled values are always written on a line of their own and never wrapped, so every answer
survives extraction intact (a wrapped PDF line would split it in two).
"""

from __future__ import annotations

import html
import textwrap
from html.parser import HTMLParser

from finerag.sample_domain.documents import Document
from finerag.sample_domain.pdf import PdfLine, build_pdf, read_pdf_pages

PDF_WRAP = 84  # characters of 11 pt Helvetica that fit between the margins of a page


def render_markdown(doc: Document) -> str:
    """Headings for the title and sections, bold labels, numbered steps."""
    out = [f"# {doc.title}", "", doc.intro, ""]
    for section in doc.sections:
        out += [f"## {section.heading}", ""]
        for paragraph in section.paragraphs:
            out += [paragraph, ""]
        if section.lines:
            out += [f"- **{label}:** {value}" for label, value in section.lines] + [""]
        if section.steps:
            out += [f"{k}. {step}" for k, step in enumerate(section.steps, start=1)] + [""]
    return "\n".join(out)


def render_text(doc: Document) -> str:
    """Underlined headings, as in a plain-text manual."""
    out = [doc.title, "=" * len(doc.title), "", doc.intro, ""]
    for section in doc.sections:
        out += [section.heading, "-" * len(section.heading)]
        out += [*section.paragraphs, ""] if section.paragraphs else []
        out += [f"{label}: {value}" for label, value in section.lines]
        out += [f"{k}. {step}" for k, step in enumerate(section.steps, start=1)]
        out.append("")
    return "\n".join(out)


def render_html(doc: Document, company: str) -> str:
    """A web page: the content in <main>, plus the script, style and nav a parser must drop."""
    e = html.escape
    body = [f"<h1>{e(doc.title)}</h1>", f"<p>{e(doc.intro)}</p>"]
    for section in doc.sections:
        body.append(f'<section id="{e(section.heading.lower().replace(" ", "-"))}">')
        body.append(f"<h2>{e(section.heading)}</h2>")
        body += [f"<p>{e(paragraph)}</p>" for paragraph in section.paragraphs]
        if section.lines:
            items = [f"<li><strong>{e(k)}:</strong> {e(v)}</li>" for k, v in section.lines]
            body += ["<ul>", *items, "</ul>"]
        if section.steps:
            body += ["<ol>", *(f"<li>{e(step)}</li>" for step in section.steps), "</ol>"]
        body.append("</section>")
    # The noise is realistic page furniture: a tracking script, CSS, a site menu, a promo
    # banner hidden by CSS. None of it is content, and none of it may reach the chunks.
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{e(doc.title)} | {e(company)}</title>",
            "<style>body { font-family: sans-serif; } .promo { display: none; }</style>",
            '<script>window.dataLayer = [{"page": "'
            + e(doc.doc_id)
            + '", "variant": "B"}]; function track(id) { return id; }</script>',
            "</head>",
            "<body>",
            '<nav><a href="/">Home</a> | <a href="/shop">Shop</a> | <a href="/help">Help</a>'
            ' | <a href="/cart">Cart (0)</a></nav>',
            "<main>",
            *body,
            "</main>",
            f"<footer><p>{e(company)}. All rights reserved.</p></footer>",
            '<script>track("footer-loaded");</script>',
            "</body>",
            "</html>",
            "",
        ]
    )


def pdf_pages(doc: Document) -> list[list[PdfLine]]:
    """One page per section; the first page also carries the title and intro."""
    pages = []
    for number, section in enumerate(doc.sections):
        lines = []
        if number == 0:
            lines.append(PdfLine(doc.title, 16, bold=True))
            lines += [PdfLine(text) for text in textwrap.wrap(doc.intro, PDF_WRAP)]
            lines.append(PdfLine(""))
        lines.append(PdfLine(section.heading, 13, bold=True))
        for paragraph in section.paragraphs:
            lines += [PdfLine(text) for text in textwrap.wrap(paragraph, PDF_WRAP)]
        lines += [PdfLine(f"{label}: {value}") for label, value in section.lines]
        lines += [PdfLine(f"{k}. {step}") for k, step in enumerate(section.steps, start=1)]
        pages.append([line for line in lines if line.text] or [PdfLine(" ")])
    return pages


def render(doc: Document, company: str) -> bytes:
    """The file's bytes in the format its id names."""
    if doc.fmt == "pdf":
        return build_pdf(pdf_pages(doc))
    text = {
        "md": render_markdown,
        "txt": render_text,
    }.get(doc.fmt)
    rendered = text(doc) if text else render_html(doc, company)
    return rendered.encode("utf-8")


class _VisibleText(HTMLParser):
    """Collects text a browser shows: skips head, script, style and nav."""

    HIDDEN = frozenset({"head", "script", "style", "nav", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0  # how many hidden elements we are inside
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth and data.strip():
            self.parts.append(data.strip())


def html_visible_text(page: str) -> str:
    """The visible text of a page, one text node per line."""
    parser = _VisibleText()
    parser.feed(page)
    parser.close()
    return "\n".join(parser.parts)


def plain_text(fmt: str, data: bytes) -> str:
    """The text of a rendered file, as a reader of that format would see it."""
    if fmt == "pdf":
        return "\n\n".join(read_pdf_pages(data))
    if fmt == "html":
        return html_visible_text(data.decode("utf-8"))
    return data.decode("utf-8")
