"""Events: add, edit, cancel, list. Service functions take a Session and `now`; no printing."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import timeparse as tp
from tracker.errors import Conflict, TrackerError
from tracker.records.checks import (
    EVENT_STATUSES,
    MODES,
    VISIBILITIES,
    check_choice,
    check_slug,
    check_tags,
    check_text,
    check_title,
    check_url,
    make_uid,
    slugify,
)
from tracker.records.deadlines import cancel_deadline
from tracker.records.lookup import get_event, unique_id
from tracker.records.models import Deadline, Event

DEFAULT_DURATION = timedelta(hours=1)


@dataclass
class EventInput:
    """The secretary's raw values; None means 'not given' (keep the old value on edit)."""

    title: str | None = None
    start: str | None = None
    end: str | None = None
    tz: str | None = None
    all_day: bool | None = None
    series: list[str] | None = None
    location: str | None = None
    mode: str | None = None
    url: str | None = None
    description: str | None = None
    visibility: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Span:
    """Resolved times of an event: instants always, dates too when all-day."""

    all_day: bool
    start_utc: datetime
    end_utc: datetime
    start_date: date | None = None
    end_date: date | None = None


def resolve_span(start: str, end: str | None, tz: str, all_day: bool | None) -> Span:
    """Turn start/end text into a Span; a date-only start means an all-day event."""
    when = tp.parse_when(start, tz, "start")
    if when.day is not None:
        if all_day is False:
            raise TrackerError(
                "start", "is a date without a time; give a time, or make the event all-day")
        first = when.day
        last = first
        if end:
            end_when = tp.parse_when(end, tz, "end")
            if end_when.day is None:
                raise TrackerError("end", "must be a date for an all-day event, e.g. 2024-10-18")
            last = end_when.day
        if last < first:
            raise TrackerError("end", f"{last} is before the start {first}; give a later date")
        return Span(True, tp.start_of_day(first, tz),
                    tp.start_of_day(last + timedelta(days=1), tz), first, last)
    if all_day:
        raise TrackerError("all_day", "needs dates without times, e.g. a start of 2024-10-14")
    assert when.utc is not None
    end_utc = when.utc + DEFAULT_DURATION
    if end:
        clock = tp.parse_time_of_day(end)
        if clock is not None:  # an end of '16:30': the same local day as the start
            local_day = when.local().date()
            end = f"{local_day.isoformat()}T{clock:%H:%M}"
        end_when = tp.parse_when(end, tz, "end")
        if end_when.is_date or end_when.utc is None:
            raise TrackerError("end", "must have a time when the start has one, e.g. 16:30")
        end_utc = end_when.utc
    if end_utc <= when.utc:
        raise TrackerError(
            "end", f"{tp.iso_local(end_utc, tz)} is not after the start "
            f"{tp.iso_local(when.utc, tz)}; give a later end"
        )
    return Span(False, when.utc, end_utc)


def add_event(
    session: Session, values: EventInput, *, event_id: str | None, default_tz: str,
    host: str, now: datetime,
) -> Event:
    """Record a new event; every value is checked before anything is written."""
    title = check_title(values.title or "")
    tz = values.tz or default_tz
    tp.parse_zone(tz, "tz")
    if not values.start:
        raise TrackerError("start", "is required, e.g. '14 Oct 2024 10:00'")
    span = resolve_span(values.start, values.end, tz, values.all_day)
    if event_id:
        check_slug(event_id)
        if session.get(Event, event_id) is not None:
            raise Conflict("id", f"an event with id '{event_id}' exists; choose another id")
    else:
        event_id = unique_id(session, Event, slugify(title))
    event = Event(
        id=event_id, uid=make_uid("event", event_id, host), title=title, tz=tz,
        series=check_tags(values.series or []), sequence=0, created_at=now, modified_at=now,
        status=check_choice(values.status or "confirmed", EVENT_STATUSES[:2], "status"),
        **_optional_fields(values),
    )
    _apply_span(event, span)
    session.add(event)
    session.flush()
    return event


def _optional_fields(values: EventInput) -> dict[str, object]:
    return {
        "location": check_text(values.location or "", "location", single_line=True),
        "mode": check_choice(values.mode or "in-person", MODES, "mode"),
        "url": check_url(values.url or ""),
        "description": check_text(values.description or "", "description"),
        "visibility": check_choice(values.visibility or "public", VISIBILITIES, "visibility"),
    }


def _apply_span(event: Event, span: Span) -> None:
    event.all_day = span.all_day
    event.start_utc, event.end_utc = span.start_utc, span.end_utc
    event.start_date, event.end_date = span.start_date, span.end_date


def _current_text(event: Event) -> tuple[str, str]:
    """The event's start/end as zone-less text, so an edit can re-read them."""
    if event.all_day:
        assert event.start_date and event.end_date
        return event.start_date.isoformat(), event.end_date.isoformat()
    return tp.wall_time(event.start_utc, event.tz), tp.wall_time(event.end_utc, event.tz)


def edit_event(session: Session, event_id: str, values: EventInput, *, now: datetime) -> list[str]:
    """Change what was given; bump SEQUENCE once when anything changed. Returns changed fields.

    A new `tz` alone keeps the wall-clock times and moves them to the new zone (the usual reason
    is that the event was entered in the wrong zone).
    """
    event = get_event(session, event_id)
    before = _snapshot(event)
    if values.title is not None:
        event.title = check_title(values.title)
    tz = values.tz or event.tz
    tp.parse_zone(tz, "tz")
    if any(v is not None for v in (values.start, values.end, values.tz, values.all_day)):
        old_start, old_end = _current_text(event)
        start = values.start or old_start
        if values.end is not None:
            end: str | None = values.end
        elif values.start is not None:  # keep the length when the start moves
            same_kind = values.all_day in (None, event.all_day) and (
                event.all_day == _is_date(start, tz)
            )
            end = _shifted_end(event, start, tz) if same_kind else None
        else:
            end = old_end
        all_day = values.all_day
        if all_day is None and values.start is None:
            all_day = event.all_day
        _apply_span(event, resolve_span(start, end, tz, all_day))
        event.tz = tz
    if values.series is not None:
        event.series = check_tags(values.series)
    if values.status is not None:
        status = check_choice(values.status, EVENT_STATUSES, "status")
        if status == "cancelled" and event.status != "cancelled":
            _cancel_deadlines(session, event, now)
            event.cancelled_at = now
        elif status != "cancelled":
            event.cancelled_at = None
        event.status = status
    for name, value in _optional_fields(values).items():
        if getattr(values, name) is not None:
            setattr(event, name, value)
    changed = [k for k, v in _snapshot(event).items() if before[k] != v]
    if changed:
        event.sequence += 1
        event.modified_at = now
    return changed


def _is_date(text: str, tz: str) -> bool:
    return tp.parse_when(text, tz, "start").is_date


def _shifted_end(event: Event, new_start: str, tz: str) -> str:
    when = tp.parse_when(new_start, tz, "start")
    if when.is_date:
        assert event.start_date and event.end_date and when.day
        return (when.day + (event.end_date - event.start_date)).isoformat()
    assert when.utc is not None
    return tp.iso_local(when.utc + (event.end_utc - event.start_utc), tz)


def _snapshot(event: Event) -> dict[str, object]:
    names = [f.name for f in fields(EventInput) if f.name not in ("start", "end")]
    snap = {n: getattr(event, n) for n in names}
    snap.update(start_utc=event.start_utc, end_utc=event.end_utc, start_date=event.start_date,
                end_date=event.end_date, series=list(event.series))
    return snap


def cancel_event(session: Session, event_id: str, *, now: datetime) -> tuple[Event, list[Deadline]]:
    """Cancel an event and its deadlines that are still open (they cannot apply any more)."""
    event = get_event(session, event_id)
    if event.status == "cancelled":
        raise TrackerError("event", f"'{event_id}' is already cancelled")
    event.status, event.cancelled_at = "cancelled", now
    event.sequence += 1
    event.modified_at = now
    return event, _cancel_deadlines(session, event, now)


def _cancel_deadlines(session: Session, event: Event, now: datetime) -> list[Deadline]:
    return [cancel_deadline(session, d.id, now=now)
            for d in event.deadlines if d.status != "cancelled"]


def list_events(
    session: Session, *, now: datetime, upcoming: bool = False, series: str | None = None,
    include_cancelled: bool = True,
) -> list[Event]:
    query = select(Event).order_by(Event.start_utc, Event.id)
    if upcoming:
        query = query.where(Event.end_utc >= now)
    if not include_cancelled:
        query = query.where(Event.status != "cancelled")
    events = list(session.scalars(query))
    if series:
        events = [e for e in events if series in e.series]
    return events
