"""The one set of checks every door uses: ids, tags, URLs, e-mails, choices, text, windows.

Each check raises TrackerError naming the field (`url`, `series`) and what is accepted, before
anything is written; the door (CLI, CSV, ICS, sample file, web form) says where the value came
from.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

from tracker.errors import TrackerError
from tracker.timeparse import iso_local

MODES = ("in-person", "online", "hybrid")
VISIBILITIES = ("public", "members", "private")
EVENT_STATUSES = ("confirmed", "tentative", "cancelled")
DEADLINE_STATUSES = ("open", "extended", "cancelled")

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def slugify(text: str, limit: int = 60) -> str:
    """A readable id from a title: 'COP12 – Registration' -> 'cop12-registration'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "item"


def check_slug(value: str, field: str = "id") -> str:
    if not _SLUG.match(value or ""):
        raise TrackerError(
            field,
            f"'{value}' is not a valid id; use lowercase letters, digits and dashes "
            "(up to 80), starting with a letter or digit, e.g. cop12-registration",
        )
    return value


def check_tags(values: Iterable[str], field: str = "series") -> list[str]:
    """Normalise series tags (lowercase, unique, order kept); accept 'a b' or 'a,b' too."""
    tags: list[str] = []
    for value in values:
        for tag in re.split(r"[\s,]+", value.strip().lower()):
            if not tag:
                continue
            if not _TAG.match(tag):
                raise TrackerError(
                    field,
                    f"'{tag}' is not a series tag; use lowercase letters, digits and dashes, "
                    "e.g. ccpcj, untoc-cop, side-event",
                )
            if tag not in tags:
                tags.append(tag)
    return tags


def check_choice(value: str, choices: tuple[str, ...], field: str) -> str:
    normalized = (value or "").strip().lower()
    if normalized not in choices:
        raise TrackerError(field, f"'{value}' is not accepted; use one of: {', '.join(choices)}")
    return normalized


def check_url(value: str, field: str = "url") -> str:
    value = (value or "").strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise TrackerError(
            field, f"'{value}' is not a web address; give a full http:// or https:// URL"
        )
    return value


def check_email(value: str, field: str = "email") -> str:
    """Normalise an address to lowercase (so one member is one row) and check its shape."""
    value = (value or "").strip()
    if not _EMAIL.match(value) or len(value) > 320:
        raise TrackerError(
            field, f"'{value}' is not an e-mail address; give one like name@example.org"
        )
    return value.lower()


def check_text(value: str, field: str, single_line: bool = False) -> str:
    """Strip text; titles must be one line so they cannot break mail headers or tables."""
    value = (value or "").strip()
    if single_line:
        value = " ".join(value.split())
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        raise TrackerError(field, "contains control characters; use plain text")
    return value


def check_title(value: str, field: str = "title") -> str:
    title = check_text(value, field, single_line=True)
    if not title:
        raise TrackerError(field, "is empty; give a short title such as 'COP12 registration'")
    if len(title) > 300:
        raise TrackerError(field, "is longer than 300 characters; shorten it")
    return title


def check_window(opens_utc: datetime | None, due_utc: datetime, tz: str) -> None:
    """A window must open before it closes."""
    if opens_utc is not None and opens_utc >= due_utc:
        raise TrackerError(
            "opens",
            f"{iso_local(opens_utc, tz)} is not before the due time {iso_local(due_utc, tz)}; "
            "give an earlier opening",
        )


def new_token() -> str:
    """An unguessable URL-safe token (192 bits from `secrets`)."""
    return secrets.token_urlsafe(24)


def make_uid(kind: str, slug: str, host: str) -> str:
    """A stable iCalendar UID for a record, fixed at creation and never recomputed."""
    return f"{slug}.{kind}@{host or 'tracker.invalid'}"
