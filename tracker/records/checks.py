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
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from tracker.errors import TrackerError, printable
from tracker.timeparse import iso_local

MODES = ("in-person", "online", "hybrid")
VISIBILITIES = ("public", "members", "private")
EVENT_STATUSES = ("confirmed", "tentative", "cancelled")
DEADLINE_STATUSES = ("open", "extended", "cancelled")

# Instants and dates outside these years are refused at every door: a year 9999 start in
# Vienna overflows Python's datetime when shown in local time, and no NGO meeting lies there.
FIRST_YEAR, LAST_YEAR = 1900, 2199
EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
LATEST = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
# Lengths the schema allows on both databases (SQLite would store longer text; PostgreSQL
# would refuse it with the whole statement): checked here so both behave the same.
UID_MAX = 255
TEXT_MAX = 100_000
URL_SCHEMES = ("http", "https", "mailto")

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


def is_safe_url(value: str) -> bool:
    """http(s) with a host, or mailto with an address; no spaces or control characters.

    Used at the door and again by the e-mail templates, so a row written some other way
    (raw SQL, an older version) still never becomes a `javascript:` link."""
    if not value or len(value) > 2000:
        return False
    if value.isascii():  # the same test without a Python step per character (once per link
        if " " in value or not value.isprintable():  # of every reminder mail)
            return False
    elif any(c.isspace() or unicodedata.category(c) == "Cc" for c in value):
        return False
    parts = urlsplit(value)
    if parts.scheme in ("http", "https"):
        return bool(parts.hostname)
    return parts.scheme == "mailto" and bool(_EMAIL.match(parts.path))


def check_url(value: str, field: str = "url") -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if not is_safe_url(value):
        raise TrackerError(
            field, f"{shown(value, 80)} is not a web address; give a full http:// or https:// URL "
            "(or mailto:name@example.org), up to 2000 characters",
        )
    return value


def check_email(value: str, field: str = "email") -> str:
    """Normalise an address to lowercase (so one member is one row) and check its shape."""
    value = (value or "").strip()
    if not _EMAIL.match(value) or len(value) > 320:
        raise TrackerError(
            field, f"{shown(value, 80)} is not an e-mail address; give one like name@example.org"
        )
    return value.lower()


# Unicode category Cc (a fixed set: U+0000-001F, U+007F-009F) but tab and newline. One regex
# scan instead of a category lookup per character: a 100,000-member import checks 200,000 texts.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def check_text(value: str, field: str, single_line: bool = False) -> str:
    """Strip text; titles must be one line so they cannot break mail headers or tables."""
    value = (value or "").strip()
    if single_line:
        value = " ".join(value.split())
    if _CONTROL.search(value):
        raise TrackerError(field, "contains control characters; use plain text")
    if any(unicodedata.category(c) == "Cs" for c in value):  # undecodable bytes, escaped
        raise TrackerError(field, "is not valid UTF-8 text")
    if len(value) > TEXT_MAX:
        raise TrackerError(field, f"is longer than {TEXT_MAX:,} characters; shorten it")
    return value


def check_title(value: str, field: str = "title") -> str:
    title = check_text(value, field, single_line=True)
    if not title:
        raise TrackerError(field, "is empty; give a short title such as 'COP12 registration'")
    if len(title) > 300:
        raise TrackerError(field, "is longer than 300 characters; shorten it")
    return title


def check_uid(value: str, field: str = "uid") -> str:
    """A UID fits the column on both databases and holds no control characters."""
    value = (value or "").strip()
    if not value or len(value) > UID_MAX or any(unicodedata.category(c) == "Cc" for c in value):
        raise TrackerError(
            field, f"{shown(value, 60)} is not a usable UID; give 1 to {UID_MAX} printable characters"
        )
    return value


def check_instant(value: datetime, field: str) -> datetime:
    """An instant between the years FIRST_YEAR and LAST_YEAR (UTC)."""
    if not EARLIEST <= value < LATEST:
        raise TrackerError(
            field, f"{value:%Y-%m-%d} is outside the years {FIRST_YEAR} to {LAST_YEAR}; "
            "give a date in that range",
        )
    return value


def check_day(value: date, field: str) -> date:
    """A calendar date between the years FIRST_YEAR and LAST_YEAR."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise TrackerError(
            field, f"{value.isoformat()} is outside the years {FIRST_YEAR} to {LAST_YEAR}; "
            "give a date in that range",
        )
    return value


def shown(value: str, limit: int = 200) -> str:
    """A value from the input as it may appear in a message: quoted, control characters and
    CR/LF escaped (so nothing rings the terminal or forges a log line), shortened."""
    text = str(value)
    return f"'{printable(text[:limit])}{'...' if len(text) > limit else ''}'"


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
