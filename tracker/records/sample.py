"""Load a sample calendar (examples/cop12.toml) through the same services and checks as the CLI."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

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
    counts = []
    for table, keys, key_field, add in (
        ("event", EVENT_KEYS, "id", _add_event), ("deadline", DEADLINE_KEYS, "id", _add_deadline),
        ("member", MEMBER_KEYS, "email", _add_member),
    ):
        items = data.get(table, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise TrackerError(f"[[{table}]]", "must be a list of tables ([[event]] blocks)",
                               where=source)
        for n, item in enumerate(items, 1):
            label = item.get(key_field)
            with _located(f"{source}: {table} {label if isinstance(label, str) else n}"):
                _check_keys(item, keys)
                values = {k: v for k, v in item.items() if k != key_field}
                add(session, item.get(key_field), values, default_tz, host, now)
        counts.append(len(items))
    return counts[0], counts[1], counts[2]


def _add_event(session: Session, key: str | None, values: dict[str, Any], default_tz: str,
               host: str, now: datetime) -> None:
    add_event(session, EventInput(**values), event_id=key, default_tz=default_tz, host=host,
              now=now)


def _add_deadline(session: Session, key: str | None, values: dict[str, Any], default_tz: str,
                  host: str, now: datetime) -> None:
    add_deadline(session, DeadlineInput(**values), deadline_id=key, default_tz=default_tz,
                 host=host, now=now)


def _add_member(session: Session, key: str | None, values: dict[str, Any], default_tz: str,
                host: str, now: datetime) -> None:
    add_member(session, key or "", MemberInput(**values), default_tz=default_tz, now=now)


@contextmanager
def _located(where: str) -> Iterator[None]:
    try:
        yield
    except TrackerError as exc:
        raise exc.at(where) from None


LISTS = {"series", "kinds"}
FLAGS = {"all_day"}


def _check_keys(item: dict[str, object], allowed: set[str]) -> None:
    """Known keys with values of the kind the services take: text in quotes (a TOML date such
    as `start = 2024-10-14` is refused: quote it), lists of text, true/false."""
    unknown = set(item) - allowed
    if unknown:
        raise TrackerError(sorted(unknown)[0], f"unknown key; known: {', '.join(sorted(allowed))}")
    for key, value in item.items():
        if key in FLAGS:
            ok, want = isinstance(value, bool), "true or false"
        elif key in LISTS:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            want = 'a list of text, e.g. ["untoc-cop"]'
        else:
            ok, want = isinstance(value, str), 'text in quotes, e.g. "14 Oct 2024 10:00"'
        if not ok:
            raise TrackerError(key, f"must be {want}")
