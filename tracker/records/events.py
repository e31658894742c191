"""Events: add, edit, cancel, list. Service functions take a Session and `now`; no printing."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import timeparse as tp
from tracker.errors import ROW_ERRORS, Conflict, TrackerError
from tracker.records import recurrence as rec
from tracker.records.checks import (
    EVENT_STATUSES,
    MODES,
    VISIBILITIES,
    check_choice,
    check_day,
    check_instant,
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
from tracker.records.models import Deadline, Event, OccurrenceChange

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
    repeat: str | None = None  # a word or RRULE; "none" on edit makes it a single event
    until: str | None = None
    count: int | None = None


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
    span = _resolve_span(start, end, tz, all_day)
    for value, field in ((span.start_utc, "start"), (span.end_utc, "end")):
        check_instant(value, field)
    return span


def _resolve_span(start: str, end: str | None, tz: str, all_day: bool | None) -> Span:
    when = _checked(tp.parse_when(start, tz, "start"), "start")
    if when.day is not None:
        if all_day is False:
            raise TrackerError(
                "start", "is a date without a time; give a time, or make the event all-day")
        first = when.day
        last = first
        if end:
            end_when = _checked(tp.parse_when(end, tz, "end"), "end")
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
        elif end.strip().lower() in ("24:00", "midnight"):  # the end of the start's day
            end = f"{when.local().date().isoformat()} 24:00"
        end_when = _checked(tp.parse_when(end, tz, "end"), "end")
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
    event.rrule = _rule(values, event)
    _check_rule_start(event)
    session.add(event)
    session.flush()
    return event


def _rule(values: EventInput, event: Event) -> str | None:
    """The event's RRULE from --repeat/--until/--count (None: a single event)."""
    if values.repeat is None or values.repeat.strip().lower() == "none":
        if values.repeat is None and (values.until is not None or values.count is not None):
            if event.rrule:
                return _limit_rule(event.rrule, values, event)
            raise TrackerError("repeat", "is needed with until or count, e.g. monthly")
        return None
    return _limit_rule(values.repeat, values, event)


def _check_rule_start(event: Event) -> None:
    """The start must be the rule's first occurrence (else calendars disagree about it)."""
    if not event.rrule:
        return
    first = rec.first_at_or_after(event.rrule, tz=event.tz, start_utc=event.start_utc)
    if first == event.start_utc:
        return
    start = f"{event.start_utc.astimezone(ZoneInfo(event.tz)):%a %d %b %Y %H:%M}"
    if first is None:
        raise TrackerError("repeat", f"'{event.rrule}' gives no occurrence from the start {start}")
    raise TrackerError("start", f"{start} is not an occurrence of '{event.rrule}'; start on the "
                                f"first one, {first.astimezone(ZoneInfo(event.tz)):%a %d %b %Y}")


def _limit_rule(repeat: str, values: EventInput, event: Event) -> str:
    until: datetime | date | None = None
    if values.until is not None:
        when = _checked(tp.parse_when(values.until, event.tz, "until"), "until")
        if event.all_day:
            if when.day is None:
                raise TrackerError("until", "must be a date for an all-day event, e.g. 2027-12-31")
            until = when.day
        else:  # a date means up to the end of that day
            until = (tp.start_of_day(when.day + timedelta(days=1), event.tz)
                     - timedelta(seconds=1)) if when.day is not None else when.utc
        first = event.start_date if event.all_day else event.start_utc
        assert first is not None
        if until < first:  # type: ignore[operator]  # same kinds on both sides
            raise TrackerError("until", f"{values.until} is before the first occurrence; give a "
                                        "later end")
    return rec.make_rule(repeat, tz=event.tz, all_day=event.all_day, until=until,
                         count=values.count)


def _checked(when: tp.When, field: str) -> tp.When:
    """Refuse a WHEN outside the accepted years before any arithmetic can overflow."""
    if when.day is not None:
        check_day(when.day, field)
    if when.utc is not None:
        check_instant(when.utc, field)
    return when


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
        try:
            old_start, old_end = _current_text(event)
        except ROW_ERRORS:  # a stored row no door lets in today: a new start mends it
            if values.start is None:
                raise TrackerError("start", "the stored start cannot be read; give a new start "
                                            "(and end)") from None
            old_start = old_end = values.start
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
    if any(v is not None for v in (values.repeat, values.until, values.count)):
        event.rrule = _rule(values, event)
    _check_rule_start(event)
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
        _drop_orphan_changes(event)
    return changed


def _drop_orphan_changes(event: Event) -> None:
    """Changes to occurrences the (new) rule no longer gives would be RECURRENCE-IDs that match
    nothing; calendars ignore or mis-show those, so they go."""
    if not event.changes:
        return
    if not event.rrule:
        event.changes.clear()
        return
    kept = [c for c in event.changes if rec.find_occurrence(
        event.rrule, tz=event.tz, start_utc=event.start_utc, end_utc=event.end_utc,
        on=_local_day(c.original_utc, event.tz), rdates=rdates_of(event)) == c.original_utc]
    if len(kept) != len(event.changes):
        event.changes[:] = kept


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
    names = [f.name for f in fields(EventInput)
             if f.name not in ("start", "end", "repeat", "until", "count")]
    snap = {n: getattr(event, n) for n in names}
    snap.update(start_utc=event.start_utc, end_utc=event.end_utc, start_date=event.start_date,
                end_date=event.end_date, series=list(event.series), repeat=event.rrule)
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


def delete_event(session: Session, event_id: str) -> tuple[Event, list[str]]:
    """Remove an event recorded by mistake, with its deadlines (whose ids are returned) and
    its occurrence changes."""
    event = get_event(session, event_id)
    gone = [d.id for d in event.deadlines]
    for deadline in list(event.deadlines):
        session.delete(deadline)
    session.delete(event)
    session.flush()
    return event, gone


LIST_HORIZON = timedelta(days=366)  # how far ahead a list shows a rule that never ends
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def list_occurrences(
    session: Session, *, now: datetime, upcoming: bool = False, series: str | None = None,
    include_cancelled: bool | None = None, horizon: timedelta = LIST_HORIZON,
) -> list[tuple[Event, rec.Occurrence]]:
    """Every event as its occurrences, by start: a single event once, a recurring one once per
    occurrence (from `now` with `upcoming`, else from its first); a rule that never ends is
    shown up to `now + horizon`. Cancelled ones are left out of `upcoming` unless
    `include_cancelled`, as deadlines are."""
    if include_cancelled is None:
        include_cancelled = not upcoming
    query = select(Event).order_by(Event.start_utc, Event.id)
    if not include_cancelled:
        query = query.where(Event.status != "cancelled")
    rows: list[tuple[Event, rec.Occurrence]] = []
    for event in session.scalars(query):
        if series and series not in event.series:
            continue
        if not event.rrule:
            if not upcoming or event.end_utc >= now:
                rows += [(event, o) for o in event_occurrences(
                    event, window_start=None, window_end=event.end_utc)]
            continue
        end = now + horizon if not rec.is_bounded(event.rrule) else FAR_FUTURE
        try:
            found = event_occurrences(event, window_start=now if upcoming else None,
                                      window_end=end)
        except ROW_ERRORS:  # a stored rule or instant no door lets in: listed as it is stored
            found = [rec.Occurrence(event.start_utc, event.start_utc, event.end_utc)]
        rows += [(event, o) for o in found if include_cancelled or not o.cancelled]
    return sorted(rows, key=lambda r: (r[1].start_utc, r[0].id))


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


# --- recurring events: occurrences, and changes to one of them ------------------------------

def rdates_of(event: Event) -> list[datetime]:
    return [datetime.fromisoformat(t) for t in event.rdates or []]


def _local_day(utc: datetime, tz: str) -> date:
    return utc.astimezone(ZoneInfo(tz)).date()


def changes_of(event: Event) -> dict[datetime, rec.Change]:
    return {c.original_utc: rec.Change(c.original_utc, c.cancelled, c.start_utc, c.end_utc)
            for c in event.changes}


def event_occurrences(
    event: Event, *, window_start: datetime | None, window_end: datetime,
) -> list[rec.Occurrence]:
    """The event's occurrences overlapping the window (a single event: itself, if it does).

    A cancelled event's occurrences are all cancelled.
    """
    if not event.rrule:
        found = [rec.Occurrence(event.start_utc, event.start_utc, event.end_utc,
                                event.status == "cancelled")]
    else:
        found = rec.occurrences(
            event.rrule, tz=event.tz, start_utc=event.start_utc, end_utc=event.end_utc,
            rdates=rdates_of(event), changes=changes_of(event), window_start=window_start,
            window_end=window_end)
        if event.status == "cancelled":
            found = [replace(o, cancelled=True) for o in found]
    lo = window_start or event.start_utc
    return [o for o in found if o.end_utc > lo and o.start_utc < window_end]


def occurrence_on(event: Event, on: str) -> datetime:
    """The original instant of the occurrence on `on` (a date, or a WHEN on that date)."""
    if not event.rrule:
        raise TrackerError("on", f"'{event.id}' is not a recurring event; edit or cancel it "
                                 "as a whole")
    when = tp.parse_when(on, event.tz, "on")
    day = when.day if when.day is not None else _local_day(when.utc, event.tz)  # type: ignore[arg-type]
    original = rec.find_occurrence(event.rrule, tz=event.tz, start_utc=event.start_utc,
                                   end_utc=event.end_utc, on=day, rdates=rdates_of(event))
    if original is None:
        raise TrackerError("on", f"'{event.id}' has no occurrence on {day:%a %d %b %Y}; give "
                                 "the date of one (event show lists them)")
    return original


def _change(event: Event, original: datetime, now: datetime) -> OccurrenceChange:
    for change in event.changes:
        if change.original_utc == original:
            return change
    change = OccurrenceChange(original_utc=original, cancelled=False, modified_at=now)
    event.changes.append(change)
    return change


def _touch(event: Event, now: datetime) -> None:
    event.sequence += 1
    event.modified_at = now


def cancel_occurrence(session: Session, event_id: str, on: str, *, now: datetime) -> datetime:
    """Cancel one occurrence (published as an EXDATE); returns its original instant."""
    event = get_event(session, event_id)
    original = occurrence_on(event, on)
    change = _change(event, original, now)
    if change.cancelled:
        raise TrackerError("on", f"the occurrence of '{event_id}' on "
                                 f"{_local_day(original, event.tz):%d %b %Y} is already cancelled")
    change.cancelled, change.start_utc, change.end_utc = True, None, None
    change.modified_at = now
    _touch(event, now)
    return original


def restore_occurrence(session: Session, event_id: str, on: str, *, now: datetime) -> datetime:
    """Undo a cancellation or move of one occurrence: it is again where the rule puts it."""
    event = get_event(session, event_id)
    original = occurrence_on(event, on)
    found = [c for c in event.changes if c.original_utc == original]
    if not found:
        raise TrackerError("on", f"the occurrence of '{event_id}' on "
                                 f"{_local_day(original, event.tz):%d %b %Y} is not changed")
    event.changes.remove(found[0])
    _touch(event, now)
    return original


def move_occurrence(
    session: Session, event_id: str, on: str, start: str | None, end: str | None, *,
    now: datetime,
) -> rec.Occurrence:
    """Move (or restore) one occurrence: a RECURRENCE-ID override in feeds.

    `start` may be a time alone ('16:00': the same day) or a WHEN; without `end` the occurrence
    keeps its length. Moving it back to where the rule puts it removes the change.
    """
    event = get_event(session, event_id)
    original = occurrence_on(event, on)
    duration = event.end_utc - event.start_utc
    day = _local_day(original, event.tz)
    start_text = start or tp.wall_time(original, event.tz)
    if event.all_day:
        start_text = start or day.isoformat()
    elif tp.parse_time_of_day(start_text) is not None:
        clock = tp.parse_time_of_day(start_text)
        start_text = f"{day.isoformat()}T{clock:%H:%M}"
    if end is None:
        when = tp.parse_when(start_text, event.tz, "start")
        if when.utc is not None:
            end = tp.wall_time(when.utc + duration, event.tz)
        elif when.day is not None:
            assert event.start_date and event.end_date
            end = (when.day + (event.end_date - event.start_date)).isoformat()
    span = resolve_span(start_text, end, event.tz, event.all_day)
    change = _change(event, original, now)
    if change.cancelled:
        raise TrackerError("on", "that occurrence is cancelled; it cannot be moved")
    if (span.start_utc, span.end_utc) == (original, original + duration):
        event.changes.remove(change)  # back where the rule puts it
    else:
        change.start_utc, change.end_utc, change.modified_at = span.start_utc, span.end_utc, now
    _touch(event, now)
    return rec.Occurrence(original, span.start_utc, span.end_utc, moved=True)
