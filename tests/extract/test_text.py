"""Documents -> lines -> clauses: plain text, HTML, .docx; line numbers survive."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

import pytest

from tracker.errors import TrackerError
from tracker.extract.text import clauses, document_lines

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def make_docx(paragraphs: list[str]) -> bytes:
    """A minimal Word document as Word writes it: runs of text inside paragraphs."""
    body = "".join(
        f'<w:p><w:r><w:t xml:space="preserve">{escape(p[:10])}</w:t></w:r>'
        f'<w:r><w:t xml:space="preserve">{escape(p[10:])}</w:t></w:r></w:p>'
        for p in paragraphs
    )
    document = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                f'<w:document xmlns:w="{W}"><w:body>{body}</w:body></w:document>')
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.wordprocessingml.document.main+xml"/></Types>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("word/document.xml", document)
    return buffer.getvalue()


def test_docx_paragraphs_become_lines() -> None:
    data = make_docx(["Minutes of the meeting of 10 September 2024",
                      "All participants must register by 4 October."])
    lines = document_lines(data, "minutes.docx")
    assert [line for line in lines if line] == [
        "Minutes of the meeting of 10 September 2024",
        "All participants must register by 4 October.",
    ]


def test_a_broken_docx_is_refused() -> None:
    with pytest.raises(TrackerError) as caught:
        document_lines(b"PK\x03\x04 not really", "minutes.docx")
    assert caught.value.field == "FILE" and "docx" in caught.value.message


def test_html_blocks_become_lines_and_scripts_vanish() -> None:
    html = ("<html><head><style>p{}</style></head><body><h1>Update</h1><p>Register by "
            "<b>4&nbsp;October</b>.</p><ul><li>one</li><li>two</li></ul>"
            "<script>var x = '1 May';</script></body></html>")
    lines = [line for line in document_lines(html.encode(), "note.html") if line]
    assert lines == ["Update", "Register by 4 October.", "one", "two"]  # &nbsp; is a space


def test_text_that_is_not_utf8_is_refused_naming_the_file() -> None:
    with pytest.raises(TrackerError) as caught:
        document_lines("Frist: 4. Oktober – Anmeldung".encode("cp1252"), "minutes.txt")
    assert caught.value.field == "FILE" and "UTF-8" in caught.value.message


def test_sentences_clauses_and_their_lines() -> None:
    lines = [
        "Heading of 1 May 2025",
        "",
        "First sentence on line three, e.g. with an abbreviation. Second sentence starts",
        "on line three and ends on four; a clause after the semicolon.",
        "- a bullet on line five",
    ]
    found = [(c.line, c.text) for c in clauses(lines)]
    assert found == [
        (1, "Heading of 1 May 2025"),
        (3, "First sentence on line three, e.g. with an abbreviation."),
        (3, "Second sentence starts on line three and ends on four"),
        (4, "a clause after the semicolon."),
        (5, "a bullet on line five"),
    ]
    second = clauses(lines)[2]
    assert second.line_at(second.text.index("four")) == 4


def test_table_rows_stand_alone() -> None:
    lines = ["Grid of 9 July 2025", "", "What        When",
             "Informal meeting     9 September, 15:00-16:30",
             "Registration         by 26 September"]
    assert [c.line for c in clauses(lines)] == [1, 3, 4, 5]
