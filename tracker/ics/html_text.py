"""Google Calendar's HTML descriptions (`<br>`, `<a href>`, `<b>`, lists) -> plain text.

Feeds and mails show descriptions as text, so "Agenda<br><a href="https://x.org/a">Agenda
page</a>" would reach members with its tags. Links are kept as "text (URL)" (just the URL when
the text is the URL); Google's redirect wrapper (google.com/url?q=...) is unwrapped. Text that
does not look like HTML is returned unchanged, so a literal "<" in plain text survives.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

_TAG = re.compile(r"<(br|a|p|b|i|u|ul|ol|li|span|div|strong|em|font|html|body)\b[^>]*>", re.I)
_BREAKS = {"br": "\n", "p": "\n\n", "div": "\n", "ul": "\n", "ol": "\n", "li": "\n- ", "tr": "\n"}


def looks_like_html(text: str) -> bool:
    return bool(_TAG.search(text))


def html_to_text(text: str) -> str:
    """Plain text of an HTML description; non-HTML text as it was."""
    if not looks_like_html(text):
        return text
    parser = _Text()
    parser.feed(text)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _real_url(href: str) -> str:
    parts = urlsplit(href)
    if parts.netloc.endswith("google.com") and parts.path == "/url":
        target = parse_qs(parts.query).get("q")
        if target:
            return target[0]
    return href


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.link: str | None = None
        self.link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            self.link = _real_url(unescape(href)) if href else None
            self.link_text = []
        elif tag in _BREAKS:
            self.parts.append(_BREAKS[tag])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.link is not None:
            shown = "".join(self.link_text).strip()
            url = self.link
            same = shown in (url, url.removeprefix("mailto:")) or not shown
            self.parts.append(url if same else f"{shown} ({url})")
            self.link = None
        elif tag in ("p", "div", "ul", "ol"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        (self.link_text if self.link is not None else self.parts).append(data)
