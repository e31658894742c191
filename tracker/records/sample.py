"""Load a sample calendar (examples/cop12.toml) through the same checks as the CLI."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path

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
    session: Session, path: Path, *, default_tz: str, host: str, now: datetime
) -> tuple[int, int, int]:
    """Record the file's events, deadlines and members; returns their counts."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrackerError("--sample", f"no file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TrackerError("--sample", f"{path} is not valid TOML ({exc})") from None
    counts = [0, 0, 0]
    for n, item in enumerate(data.get("event", []), 1):
        _check_keys(item, EVENT_KEYS, f"{path.name} event {n}")
        values = {k: v for k, v in item.items() if k != "id"}
        add_event(session, EventInput(**values), event_id=item.get("id"), default_tz=default_tz,
                  host=host, now=now)
        counts[0] += 1
    for n, item in enumerate(data.get("deadline", []), 1):
        _check_keys(item, DEADLINE_KEYS, f"{path.name} deadline {n}")
        values = {k: v for k, v in item.items() if k != "id"}
        add_deadline(session, DeadlineInput(**values), deadline_id=item.get("id"),
                     default_tz=default_tz, host=host, now=now)
        counts[1] += 1
    for n, item in enumerate(data.get("member", []), 1):
        _check_keys(item, MEMBER_KEYS, f"{path.name} member {n}")
        values = {k: v for k, v in item.items() if k != "email"}
        add_member(session, item.get("email", ""), MemberInput(**values), default_tz=default_tz,
                   now=now)
        counts[2] += 1
    return counts[0], counts[1], counts[2]


def _check_keys(item: dict[str, object], allowed: set[str], where: str) -> None:
    unknown = set(item) - allowed
    if unknown:
        raise TrackerError(where, f"unknown key {sorted(unknown)[0]}; known: {', '.join(sorted(allowed))}")
