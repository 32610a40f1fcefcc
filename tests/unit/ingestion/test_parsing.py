"""Reading Markdown, text, HTML, PDF and JSONL into sections."""

from __future__ import annotations

import io
import json

import pytest

from services.ingestion.core.documents import UnreadableDocumentError
from services.ingestion.core.parsing import parse_file
from shared.contracts.errors import UnsupportedMediaTypeError
from shared.contracts.schemas import content_hash


def test_markdown_headings_become_section_paths_and_fences_are_not_headings():
    text = (
        b"# Guide\n\nIntro.\n\n## Refunds\nSee [the policy](x.md).\n"
        b"```\n# code\n```\n### Timing\nFast.\n"
    )
    (doc,) = parse_file("docs/guide.md", text)
    assert doc.title == "Guide"
    assert doc.version == content_hash(text)
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("Guide", "Intro."),
        ("Guide > Refunds", "See the policy.\n```\n# code\n```"),
        ("Guide > Refunds > Timing", "Fast."),
    ]


def test_html_keeps_visible_text_only():
    html = (
        b"<html><head><title>Returns</title><style>p{}</style></head><body>"
        b"<script>alert('x')</script><h1>Returns</h1><p>Send it back in <b>30 days</b>.</p>"
        b"<h2>Labels</h2><ul><li>Print the label</li><li>Attach it</li></ul></body></html>"
    )
    (doc,) = parse_file("returns.html", html)
    assert doc.title == "Returns"
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("Returns", "Send it back in 30 days."),
        ("Returns > Labels", "Print the label\nAttach it"),
    ]


def test_plain_text_is_one_section_titled_by_file_name():
    (doc,) = parse_file("notes/store_hours.txt", b"Open daily.\n\n\n\nClosed on holidays.")
    assert doc.title == "store hours"
    assert [s.text for s in doc.sections] == ["Open daily.\n\nClosed on holidays."]


def test_pdf_pages_are_sections_named_by_page():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(UnreadableDocumentError, match="no text"):
        parse_file("blank.pdf", buffer.getvalue())


def test_sample_domain_pdf_keeps_page_numbers(sample_domain):
    pdf = next(path for path in sample_domain.kb_dir.rglob("*.pdf"))
    (doc,) = parse_file(pdf.name, pdf.read_bytes())
    assert doc.sections
    assert all(section.heading.startswith("p. ") for section in doc.sections)


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4 garbage", b"not a pdf at all"])
def test_empty_or_corrupt_pdf_is_a_per_file_error(data):
    with pytest.raises(UnreadableDocumentError):
        parse_file("bad.pdf", data)


def test_encrypted_pdf_is_refused():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("hunter2")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(UnreadableDocumentError, match="encrypted"):
        parse_file("locked.pdf", buffer.getvalue())


def test_jsonl_gives_one_document_per_line_with_metadata():
    lines = [
        {"id": "faq-1", "text": "Shipping is free.", "metadata": {"title": "FAQ", "tags": ["x"]}},
        {"id": "faq-2", "text": "# Hours\nNine to five.", "metadata": {"format": "markdown"}},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    first, second = parse_file("faq.jsonl", data)
    assert (first.doc_id, first.title, first.tags) == ("faq-1", "FAQ", ["x"])
    assert second.sections[0].heading == "Hours"
    with pytest.raises(UnreadableDocumentError, match="line 1"):
        parse_file("bad.jsonl", b'{"text": "no id"}')


def test_unsupported_type_names_the_supported_ones():
    with pytest.raises(UnsupportedMediaTypeError, match=r"\.md.*\.pdf"):
        parse_file("slides.pptx", b"...")


def test_empty_text_file_is_unreadable():
    with pytest.raises(UnreadableDocumentError, match="no text"):
        parse_file("empty.md", b"   \n")
