"""One VEVENT as read from a file: the plain item `parse` produces and `apply` writes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

from tracker.records.checks import slugify
from tracker.records.recurrence import Change

# The records' field names as an .ics file spells them, for messages that point into the file.
PROPERTIES = {
    "title": "SUMMARY", "start": "DTSTART", "due": "DTSTART", "end": "DTEND",
    "location": "LOCATION", "url": "URL", "description": "DESCRIPTION", "notes": "DESCRIPTION",
    "status": "STATUS", "visibility": "CLASS", "series": "CATEGORIES", "tz": "TZID",
    "mode": "X-TRACKER-MODE", "kind": "X-TRACKER-KIND", "email": "X-TRACKER-EMAIL",
    "opens": "X-TRACKER-OPENS", "repeat": "RRULE",
}


def in_file_words(field: str) -> str:
    """`title` -> `SUMMARY`; property names pass through."""
    return PROPERTIES.get(field, field)


@dataclass
class Incoming:
    """One VEVENT, read and checked, ready to be matched by UID."""

    uid: str
    kind: str  # "event" or a deadline kind
    title: str
    tz: str
    start_utc: datetime
    end_utc: datetime
    all_day: bool = False
    start_date: date | None = None
    end_date: date | None = None  # inclusive
    location: str = ""
    url: str = ""
    description: str = ""
    status: str = "confirmed"
    visibility: str = "public"
    series: list[str] = field(default_factory=list)
    mode: str = "in-person"
    sequence: int = 0
    last_modified: datetime | None = None
    opens_utc: datetime | None = None
    opens_date: date | None = None
    due_date: date | None = None
    email: str = ""
    rrule: str | None = None  # recurring events: RRULE text, extra dates, changed occurrences
    rdates: list[datetime] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def is_deadline(self) -> bool:
        return self.kind != "event"

    def new_id(self, digits: int = 6) -> str:
        """'cop12-plenary-3f2a1c'; `apply` asks for more digits when that id is taken."""
        digest = hashlib.sha256(self.uid.encode()).hexdigest()[:digits]
        return f"{slugify(self.title, 50)}-{digest}"
