"""Documents -> lines -> sentences and clauses, each knowing the line it starts on.

Plain text is the main door. HTML is read with the standard library's parser (block elements
become lines); .docx is a zip of XML whose paragraphs the standard library reads too, so neither
needs a dependency. Each returns lines so that a proposal can name the line it came from.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from xml.etree import ElementTree

from tracker.errors import TrackerError

_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table",
               "ul", "ol", "section", "article", "header", "footer", "blockquote", "pre", "td"}
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Sentence ends: after . ! ? followed by space and a capital, but not after abbreviations
# ("e.g.", "No.", "Mr.") or a lone initial. "p.m. The" ends a sentence, "a.m. and" does not,
# nor does "4 p.m. New York time" or "4 p.m. CET".
_SENTENCE_END = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\bNo)(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bcf)(?<!\bvs)"
    r"(?<!\b[A-Z])[.!?]\s+(?=[\"“(]?[A-Z0-9])"
    r"(?!(?:New York|Vienna|Geneva|Kyoto|Tokyo|Mexico City) time|GMT|UTC|CES?T\b)"
)
_LABEL = re.compile(r"^[A-Z][\w ()/&'-]{0,30}:\s")
_TABLE_ROW = re.compile(r"\S\s{3,}\S")  # columns set apart by runs of spaces (or tabs)
_BULLET = re.compile(r"^\s*(?:[-*•–]|\d{1,2}[.)]|\([a-z0-9]\))\s+")


@dataclass(frozen=True)
class Clause:
    """A sentence (or a part of one between semicolons) and where it sits in the document."""

    text: str
    sentence: str
    line: int  # 1-based line the clause starts on
    offset_lines: tuple[tuple[int, int], ...]  # (char offset in text, line) to locate a hit
    paragraph: int = 0
    lead: str = ""  # the line ending in ':' that a bulleted clause continues

    def line_at(self, position: int) -> int:
        """The document line holding character `position` of this clause."""
        line = self.line
        for offset, number in self.offset_lines:
            if offset <= position:
                line = number
        return line


def document_lines(data: bytes, name: str) -> list[str]:
    """The document's text as lines; `.docx` and `.html`/`.htm` by suffix, else UTF-8 text."""
    lowered = name.lower()
    if lowered.endswith(".docx"):
        return _docx_lines(data, name)
    text = _decode(data, name)
    if lowered.endswith((".html", ".htm")):
        return _html_lines(text)
    return text.splitlines()


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TrackerError(
            "FILE", f"{name} is not UTF-8 text (byte {exc.start}); save it as UTF-8, .html or .docx"
        ) from None


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(" ".join(data.split()) if "\n" in data else data)


def _html_lines(text: str) -> list[str]:
    collector = _TextCollector()
    collector.feed(text)
    collector.close()
    lines = [" ".join(line.split()) for line in "".join(collector.parts).split("\n")]
    out: list[str] = []
    for line in lines:  # keep one blank line between blocks, so paragraphs stay apart
        if line or (out and out[-1]):
            out.append(line)
    return out


def _docx_lines(data: bytes, name: str) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            xml = archive.read("word/document.xml")
        root = ElementTree.fromstring(xml)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError):
        raise TrackerError("FILE", f"{name} is not a readable .docx document") from None
    lines: list[str] = []
    for paragraph in root.iter(f"{_W}p"):
        parts = []
        for node in paragraph.iter():
            if node.tag == f"{_W}t" and node.text:
                parts.append(node.text)
            elif node.tag in (f"{_W}tab", f"{_W}br"):
                parts.append(" ")
        lines.extend(["".join(parts), ""])
    return lines


def clauses(lines: list[str]) -> list[Clause]:
    """Paragraphs (blank lines and bullets split them) -> sentences -> clauses at semicolons.

    Bullets after a line ending in ':' keep that line as their `lead` ("The meetings will
    continue on these dates:"), which says what the bare dates of the bullets are.
    """
    out: list[Clause] = []
    lead_in = ""
    for index, paragraph in enumerate(_paragraphs(lines)):
        text = " ".join(part for _, part in paragraph)
        is_bullet = bool(_BULLET.match(lines[paragraph[0][0] - 1]))
        lead = lead_in if is_bullet else ""
        if not is_bullet:
            lead_in = text if text.rstrip().endswith(":") else ""
        offsets, pos = [], 0
        for line_number, part in paragraph:
            offsets.append((pos, line_number))
            pos += len(part) + 1
        for s_start, s_end in _spans(text, _SENTENCE_END):
            sentence = text[s_start:s_end].strip()
            for c_start, c_end in _spans(text[s_start:s_end], re.compile(r";\s+")):
                piece = text[s_start + c_start:s_start + c_end]
                begin = s_start + c_start + len(piece) - len(piece.lstrip())
                body = piece.strip()
                if not body:
                    continue
                local = tuple((o - begin, n) for o, n in offsets)
                first = max((n for o, n in offsets if o <= begin), default=paragraph[0][0])
                out.append(Clause(body, sentence, first, local, index, lead))
    return out


def _paragraphs(lines: list[str]) -> list[list[tuple[int, str]]]:
    """Blank lines, bullets and 'Label: value' lines ('Next meeting: ...') start paragraphs.

    A label line that ends like a finished line (a full stop, a bracket, a digit) is a paragraph
    of its own; one that ends mid-sentence goes on on the next line.
    """
    paragraphs: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    heading = True  # until the first blank line after some text
    for number, raw in enumerate(lines, start=1):
        raw = raw.replace("\t", "    ")
        line = " ".join(raw.split())
        if not line and (paragraphs or current):
            heading = False
        if not line or _BULLET.match(raw) or _LABEL.match(line):
            if current:
                paragraphs.append(current)
            current = []
            if not line:
                continue
            line = " ".join(_BULLET.sub("", raw).split())
        current.append((number, line))
        if heading or _TABLE_ROW.search(raw.strip()):  # heading lines and table rows stand alone
            paragraphs.append(current)  # the heading block: each line is a line of its own
            current = []
        elif _LABEL.match(line) and re.search(r"[.)!?\dA-Z]$", line):
            paragraphs.append(current)  # "Next meeting: 9 Nov, 15:00 (GMT+1)" stands alone
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _spans(text: str, separator: re.Pattern[str]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in separator.finditer(text):
        spans.append((start, m.start() + (1 if m.group(0)[:1] in ".!?" else 0)))
        start = m.end()
    spans.append((start, len(text)))
    return spans
