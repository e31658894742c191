"""Deadlines: add, edit, cancel, list. Service functions take a Session and `now`; no printing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tracker import timeparse as tp
from tracker.config import KINDS
from tracker.errors import Conflict, TrackerError
from tracker.records.checks import (
    DEADLINE_STATUSES,
    VISIBILITIES,
    check_choice,
    check_day,
    check_email,
    check_instant,
    check_slug,
    check_tags,
    check_text,
    check_title,
    check_url,
    check_window,
    make_uid,
    slugify,
)
from tracker.records.lookup import get_deadline, get_event, unique_id
from tracker.records.models import Deadline

MATERIAL = (
    "title", "event_id", "kind", "series", "tz", "due_utc", "due_date", "opens_utc", "opens_date",
    "instructions", "url", "email", "location", "status", "visibility", "remind",
)


@dataclass
class DeadlineInput:
    """The secretary's raw values; None means 'not given' (keep the old value on edit)."""

    title: str | None = None
    due: str | None = None
    opens: str | None = None
    tz: str | None = None
    event: str | None = None
    kind: str | None = None
    series: list[str] | None = None
    url: str | None = None
    notes: str | None = None
    email: str | None = None
    location: str | None = None
    remind: str | None = None
    visibility: str | None = None
    status: str | None = None


def resolve_due(text: str, tz: str) -> tuple[datetime, date | None]:
    """A due WHEN: an instant, or a date meaning 23:59 that day in `tz`.

    "D midnight" and "D 24:00" are the end of D, so they are due on date D: listed as
    "end of Fri 9 May" and inside 9 May in every calendar, not on the 10th at 00:00.
    """
    when = tp.parse_when(text, tz, "due")
    if when.end_of is not None:
        return tp.end_of_day(when.end_of, tz), when.end_of
    return _resolve(text, tz, "due", tp.end_of_day)


def resolve_opens(text: str, tz: str) -> tuple[datetime, date | None]:
    """An opening WHEN: an instant, or a date meaning the start of that day in `tz`."""
    return _resolve(text, tz, "opens", tp.start_of_day)


def _resolve(
    text: str, tz: str, field: str, on_date: Callable[[date, str], datetime]
) -> tuple[datetime, date | None]:
    when = tp.parse_when(text, tz, field)
    if when.day is not None:
        check_day(when.day, field)
        return check_instant(on_date(when.day, tz), field), when.day
    assert when.utc is not None
    return check_instant(when.utc, field), None


def add_deadline(
    session: Session, values: DeadlineInput, *, deadline_id: str | None, default_tz: str,
    host: str, now: datetime,
) -> Deadline:
    """Record a new deadline; without a `tz` it takes its event's zone, else the default zone."""
    title = check_title(values.title or "")
    event = get_event(session, values.event) if values.event else None
    tz = values.tz or (event.tz if event else default_tz)
    tp.parse_zone(tz, "tz")
    if not values.due:
        raise TrackerError("due", "is required, e.g. '14 Oct 2024 noon'")
    if deadline_id:
        check_slug(deadline_id)
        if session.get(Deadline, deadline_id) is not None:
            raise Conflict("id", f"a deadline with id '{deadline_id}' exists; choose another id")
    else:
        deadline_id = unique_id(session, Deadline, slugify(title))
    deadline = Deadline(
        id=deadline_id, uid=make_uid("deadline", deadline_id, host), title=title, tz=tz,
        event_id=event.id if event else None, sequence=0, created_at=now, modified_at=now,
        kind=check_choice(values.kind or "other", KINDS, "kind"), status="open",
        visibility=check_choice(
            values.visibility or (event.visibility if event else "public"), VISIBILITIES,
            "visibility",
        ),
        series=check_tags(values.series or []),
        **_text_fields(values),
    )
    deadline.due_utc, deadline.due_date = resolve_due(values.due, tz)
    deadline.first_due_utc, deadline.first_due_date = deadline.due_utc, deadline.due_date
    if values.opens:
        deadline.opens_utc, deadline.opens_date = resolve_opens(values.opens, tz)
    check_window(deadline.opens_utc, deadline.due_utc, deadline.tz)
    session.add(deadline)
    session.flush()
    return deadline


def _text_fields(values: DeadlineInput) -> dict[str, object]:
    return {
        "instructions": check_text(values.notes or "", "notes"),
        "url": check_url(values.url or ""),
        "email": check_email(values.email, "email") if values.email else "",
        "location": check_text(values.location or "", "location", single_line=True),
        "remind": tp.format_offsets(tp.parse_offsets(values.remind)) if values.remind else None,
    }


_TEXT_OPTIONS = {"notes": "instructions", "url": "url", "email": "email", "location": "location",
                 "remind": "remind"}


def edit_deadline(
    session: Session, deadline_id: str, values: DeadlineInput, *, now: datetime
) -> list[str]:
    """Change what was given; bump SEQUENCE once when anything changed. Returns changed fields.

    A deadline is `extended` while its due moment is later than the FIRST one it was recorded
    with (moved later, then back: open again; moved earlier, then a little later: not
    extended). A new `tz` alone keeps the wall-clock times and moves them to the new zone. An
    empty `remind` is not accepted; 'default' clears it.
    """
    deadline = get_deadline(session, deadline_id)
    before = {name: _value(deadline, name) for name in MATERIAL}
    if deadline.first_due_utc is None and deadline.status == "open":  # a row from before 0007
        deadline.first_due_utc, deadline.first_due_date = deadline.due_utc, deadline.due_date
    if values.title is not None:
        deadline.title = check_title(values.title)
    if values.event is not None:
        deadline.event_id = get_event(session, values.event).id if values.event else None
    if values.kind is not None:
        deadline.kind = check_choice(values.kind, KINDS, "kind")
    if values.series is not None:
        deadline.series = check_tags(values.series)
    if values.visibility is not None:
        deadline.visibility = check_choice(values.visibility, VISIBILITIES, "visibility")
    _edit_times(deadline, values)
    if values.remind is not None and values.remind.strip().lower() == "default":
        deadline.remind = None
        values.remind = None
    texts = _text_fields(values)
    for option, column in _TEXT_OPTIONS.items():
        if getattr(values, option) is not None:
            setattr(deadline, column, texts[column])
    if values.status is not None:
        _set_status(deadline, check_choice(values.status, DEADLINE_STATUSES, "status"), now)
    elif deadline.status != "cancelled" and deadline.first_due_utc is not None:
        deadline.status = "extended" if deadline.due_utc > deadline.first_due_utc else "open"
    changed = [name for name in MATERIAL if before[name] != _value(deadline, name)]
    if changed:
        deadline.sequence += 1
        deadline.modified_at = now
    return changed


def _value(deadline: Deadline, name: str) -> object:
    value = getattr(deadline, name)
    return list(value) if isinstance(value, list) else value


def _edit_times(deadline: Deadline, values: DeadlineInput) -> None:
    tz = values.tz or deadline.tz
    tp.parse_zone(tz, "tz")
    if values.tz is not None and values.tz != deadline.tz:
        # same wall-clock time, new zone
        if values.due is None:
            values.due = (deadline.due_date.isoformat() if deadline.due_date
                          else tp.wall_time(deadline.due_utc, deadline.tz))
        if values.opens is None and deadline.opens_utc is not None:
            values.opens = (deadline.opens_date.isoformat() if deadline.opens_date
                            else tp.wall_time(deadline.opens_utc, deadline.tz))
        deadline.tz = tz
    if values.due is not None:
        deadline.due_utc, deadline.due_date = resolve_due(values.due, tz)
    if values.opens is not None:
        if values.opens.strip().lower() in ("", "none"):
            deadline.opens_utc, deadline.opens_date = None, None
        else:
            deadline.opens_utc, deadline.opens_date = resolve_opens(values.opens, tz)
    check_window(deadline.opens_utc, deadline.due_utc, deadline.tz)


def _set_status(deadline: Deadline, status: str, now: datetime) -> None:
    if status == "cancelled" and deadline.status != "cancelled":
        deadline.cancelled_at = now
    elif status != "cancelled":
        deadline.cancelled_at = None
    deadline.status = status


def cancel_deadline(session: Session, deadline_id: str, *, now: datetime) -> Deadline:
    deadline = get_deadline(session, deadline_id)
    if deadline.status == "cancelled":
        raise TrackerError("deadline", f"'{deadline_id}' is already cancelled")
    _set_status(deadline, "cancelled", now)
    deadline.sequence += 1
    deadline.modified_at = now
    return deadline


def delete_deadline(session: Session, deadline_id: str) -> Deadline:
    """Remove a deadline recorded by mistake (its reminder plan goes with it; the outbox is
    the reminders package's business: tracker.reminders.removal)."""
    deadline = get_deadline(session, deadline_id)
    session.delete(deadline)
    session.flush()
    return deadline


def list_deadlines(
    session: Session, *, now: datetime, upcoming: bool = False, event: str | None = None,
    kind: str | None = None, include_cancelled: bool | None = None, series: str | None = None,
) -> list[Deadline]:
    """Deadlines by due time; `upcoming` means not yet due, and (unless `include_cancelled`)
    not cancelled. `series` matches the deadline's own tags and its event's."""
    if include_cancelled is None:
        include_cancelled = not upcoming
    query = select(Deadline).options(selectinload(Deadline.event)).order_by(
        Deadline.due_utc, Deadline.id
    )
    if upcoming:
        query = query.where(Deadline.due_utc >= now)
    if event:
        query = query.where(Deadline.event_id == get_event(session, event).id)
    if kind:
        query = query.where(Deadline.kind == check_choice(kind, KINDS, "kind"))
    if not include_cancelled:
        query = query.where(Deadline.status != "cancelled")
    found = list(session.scalars(query))
    if series:
        found = [d for d in found if series in d.all_series]
    return found
