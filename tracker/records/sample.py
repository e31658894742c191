"""Load a sample calendar (examples/cop12.toml) through the same services and checks as the CLI."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.errors import TrackerError
from tracker.records.deadlines import DeadlineInput, add_deadline
from tracker.records.events import EventInput, add_event
from tracker.records.members import MemberInput, add_member
from tracker.records.models import Event

EVENT_KEYS = {"id", "title", "start", "end", "tz", "all_day", "series", "location", "mode", "url",
              "description", "visibility", "status"}
DEADLINE_KEYS = {"id", "title", "due", "opens", "tz", "event", "kind", "series", "url", "notes",
                 "email", "location", "remind", "visibility"}
MEMBER_KEYS = {"email", "name", "organisation", "tz", "series", "kinds", "remind"}


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Event))


def load_sample(
    session: Session, text: str, source: str, *, default_tz: str, host: str, now: datetime
) -> tuple[int, int, int]:
    """Record the file's events, deadlines and members; returns their counts.

    Every item goes through the same services (and checks) as the CLI; an error names the file,
    the item and the field: `cop12.toml: deadline cop12-speakers: due: ...`.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TrackerError("file", f"is not valid TOML ({exc})", where=source) from None
    counts = [0, 0, 0]
    for n, item in enumerate(data.get("event", []), 1):
        with _located(f"{source}: event {item.get('id') or n}"):
            _check_keys(item, EVENT_KEYS)
            values = {k: v for k, v in item.items() if k != "id"}
            add_event(session, EventInput(**values), event_id=item.get("id"),
                      default_tz=default_tz, host=host, now=now)
        counts[0] += 1
    for n, item in enumerate(data.get("deadline", []), 1):
        with _located(f"{source}: deadline {item.get('id') or n}"):
            _check_keys(item, DEADLINE_KEYS)
            values = {k: v for k, v in item.items() if k != "id"}
            add_deadline(session, DeadlineInput(**values), deadline_id=item.get("id"),
                         default_tz=default_tz, host=host, now=now)
        counts[1] += 1
    for n, item in enumerate(data.get("member", []), 1):
        with _located(f"{source}: member {item.get('email') or n}"):
            _check_keys(item, MEMBER_KEYS)
            values = {k: v for k, v in item.items() if k != "email"}
            add_member(session, item.get("email", ""), MemberInput(**values),
                       default_tz=default_tz, now=now)
        counts[2] += 1
    return counts[0], counts[1], counts[2]


@contextmanager
def _located(where: str) -> Iterator[None]:
    try:
        yield
    except TrackerError as exc:
        raise exc.at(where) from None


def _check_keys(item: dict[str, object], allowed: set[str]) -> None:
    unknown = set(item) - allowed
    if unknown:
        raise TrackerError(sorted(unknown)[0], f"unknown key; known: {', '.join(sorted(allowed))}")
