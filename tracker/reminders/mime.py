"""Assemble a MIME message as bytes (CRLF line ends), without building an EmailMessage.

Building an EmailMessage and flattening it again parses and re-folds every header, which cost
about ten times the SMTP exchange on loopback. Here a plain, short ASCII header value is
written as it is (which is what the email package writes for it too); non-ASCII values become
RFC 2047 encoded words made here, since the email package's re-folding mangles some (see
`header` and `address_header`). Bodies are 7bit when they are plain ASCII,
else quoted-printable; attachments base64. ``Outgoing.parsed()`` gives the EmailMessage back
for previews and tests.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from email import message_from_bytes, policy, quoprimime
from email.header import Header, decode_header, make_header
from email.message import EmailMessage
from email.utils import formataddr, parseaddr

# Bodies are encoded (76-column lines) before headers are written; headers may use the RFC 5322
# limit of 998, so a long List-Unsubscribe is folded at its comma, never turned into
# encoded-words.
HEADERS_POLICY = policy.SMTP.clone(max_line_length=998)


_PLAIN_HEADER = re.compile(r"[ -~]*")
_SEVEN_BIT = re.compile(rb"[\t\n\x20-\x7e]*")


def header(name: str, value: str) -> bytes:
    """One header line (CRLF). A plain, short ASCII value is written as it is.

    Otherwise: an address header (From, To, ...) goes through `address_header`; free text
    (Subject, X-...) becomes RFC 2047 encoded words made here (`email.header.Header`), whole,
    because the email package's re-folding decodes a literal '=?...?=' typed into a title and
    drops the space between two encoded words of a long value (CPython gh-144156); other
    structured headers, and long plain ASCII values such as List-Unsubscribe, are folded by the
    email package.
    """
    plain = _PLAIN_HEADER.fullmatch(value) is not None
    if plain and "=?" not in value and len(name) + len(value) < 997:
        return f"{name}: {value}\r\n".encode("ascii")
    key = name.lower()
    if key in _ADDRESS_HEADERS:
        display, address = parseaddr(value)
        if "=?" in display:  # already encoded words (formataddr with a charset)
            display = str(make_header(decode_header(display)))
        return address_header(name, display, address)
    if (key == "subject" or key.startswith("x-")) and not (plain and "=?" not in value):
        encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
        return f"{name}: {encoded}\r\n".encode("ascii")
    return HEADERS_POLICY.fold_binary(name, HEADERS_POLICY.header_factory(name, value))


_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender"})


def address_header(name: str, display: str, address: str) -> bytes:
    """`To: Name <addr>` (CRLF). A non-ASCII name is encoded on its own, so nothing in it can be
    read as part of the address: the email package's re-folding moves '(' ')' '<' '>' of such a
    name outside its encoded words (CPython gh-121284), so 'Zoë <boss@example.org>' would show
    as that other address. An ASCII name with specials is quoted (`formataddr`)."""
    if display.isascii():
        value = formataddr((display, address))
    else:
        words = Header(display, "utf-8", header_name=name).encode(linesep="\r\n")
        value = f"{words} <{address}>"
    return f"{name}: {value}\r\n".encode("ascii")


def text_part(subtype: str, text: str) -> bytes:
    """A text/<subtype> UTF-8 part: 7bit when it is plain ASCII, else quoted-printable."""
    lines = text.encode("utf-8").splitlines()  # CR, LF and CRLF: the same breaks as email's
    body = b"\n".join(lines) + b"\n"
    if _SEVEN_BIT.fullmatch(body) and max(map(len, lines), default=0) <= 998:
        cte = "7bit"
    else:  # soft breaks at 76 columns; every '=', 8-bit byte and control character encoded
        cte, body = "quoted-printable", _quoted_printable(body)
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode() + body.replace(b"\n", b"\r\n")


def _quoted_printable(body: bytes) -> bytes:
    """RFC 2045 quoted-printable with LF line ends and no encoded line over 76 octets.

    `binascii.b2a_qp` writes a line's trailing space as '=20' past column 76 when the line is
    broken just before it; the email package's encoder (the one `EmailMessage` uses for UTF-8
    bodies) keeps to the limit.
    """
    return quoprimime.body_encode(body.decode("latin-1"), maxlinelen=76, eol="\n").encode("latin-1")


def attachment_part(filename: str, ics: bytes) -> bytes:
    """The .ics as a base64 text/calendar attachment (the same bytes for a whole batch)."""
    return (b'Content-Type: text/calendar; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            + header("Content-Disposition", f'attachment; filename="{filename}"') + b"\r\n"
            + base64.encodebytes(ics).replace(b"\n", b"\r\n"))


def multipart(subtype: str, parts: list[bytes]) -> bytes:
    """multipart/<subtype> around `parts` (each ends with CRLF), boundary absent from them."""
    while True:  # "=_" never occurs in quoted-printable or base64; 7bit text is checked
        boundary = f"=_{secrets.token_hex(10)}.{subtype[:3]}".encode()
        if not any(boundary in p for p in parts):
            break
    out = [b'Content-Type: multipart/' + subtype.encode() + b'; boundary="' + boundary
           + b'"\r\n\r\n']
    for p in parts:
        out += [b"--", boundary, b"\r\n", p, b"\r\n"]  # CRLF before "--" belongs to it
    out += [b"--", boundary, b"--\r\n"]
    return b"".join(out)


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: envelope, Message-ID and its bytes (CRLF line ends)."""

    message_id: str
    sender: str
    recipient: str
    data: bytes

    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=HEADERS_POLICY)
