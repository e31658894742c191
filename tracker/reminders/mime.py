"""Assemble a MIME message as bytes (CRLF line ends), without building an EmailMessage.

Building an EmailMessage and flattening it again parses and re-folds every header, which cost
about ten times the SMTP exchange on loopback. Here a plain, short ASCII header value is
written as it is (which is what the email package writes for it too); any other value is
encoded and folded by the email package itself. Bodies are 7bit when they are plain ASCII,
else quoted-printable; attachments base64. ``Outgoing.parsed()`` gives the EmailMessage back
for previews and tests.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

# Bodies are encoded (76-column lines) before headers are written; headers may use the RFC 5322
# limit of 998, so a long List-Unsubscribe is folded at its comma, never turned into
# encoded-words.
HEADERS_POLICY = policy.SMTP.clone(max_line_length=998)


_PLAIN_HEADER = re.compile(r"[ -~]*")
_SEVEN_BIT = re.compile(rb"[\t\n\x20-\x7e]*")


def header(name: str, value: str) -> bytes:
    """One header line (CRLF). A plain, short ASCII value is written as it is, which is what
    the email package writes for it too; anything else (non-ASCII, '=?', over 998 characters)
    is folded and RFC 2047-encoded by the email package itself."""
    if len(name) + len(value) < 997 and "=?" not in value and _PLAIN_HEADER.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return HEADERS_POLICY.fold_binary(name, HEADERS_POLICY.header_factory(name, value))


def text_part(subtype: str, text: str) -> bytes:
    """A text/<subtype> UTF-8 part: 7bit when it is plain ASCII, else quoted-printable."""
    lines = text.encode("utf-8").splitlines()  # CR, LF and CRLF: the same breaks as email's
    body = b"\n".join(lines) + b"\n"
    if _SEVEN_BIT.fullmatch(body) and max(map(len, lines), default=0) <= 998:
        cte = "7bit"
    else:  # soft breaks at 76 columns; every '=', 8-bit byte and control character encoded
        cte, body = "quoted-printable", binascii.b2a_qp(body, istext=True)
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode() + body.replace(b"\n", b"\r\n")


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
