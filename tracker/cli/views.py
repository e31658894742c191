"""Records -> JSON-ready dicts and readable tables (times in each item's own zone)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tracker.errors import ROW_ERRORS, OperationalError, printable
from tracker.links import feed_url, member_page_url
from tracker.records.events import LIST_HORIZON, event_occurrences
from tracker.records.models import Deadline, Event, Member
from tracker.records.recurrence import Occurrence
from tracker.timeparse import iso_local, iso_utc


def event_dict(event: Event) -> dict[str, object]:
    if event.all_day:
        assert event.start_date and event.end_date
        start, end = event.start_date.isoformat(), event.end_date.isoformat()
    else:
        start, end = iso_local(event.start_utc, event.tz), iso_local(event.end_utc, event.tz)
    return {
        "id": event.id, "uid": event.uid, "title": event.title, "status": event.status,
        "tz": event.tz, "all_day": event.all_day, "start": start, "end": end,
        "start_utc": iso_utc(event.start_utc), "end_utc": iso_utc(event.end_utc),
        "series": list(event.series), "location": event.location, "mode": event.mode,
        "url": event.url, "description": event.description, "visibility": event.visibility,
        "sequence": event.sequence, "created": iso_utc(event.created_at),
        "modified": iso_utc(event.modified_at),
        "deadlines": [d.id for d in sorted(event.deadlines, key=lambda d: d.due_utc)],
        "repeat": event.rrule,
    }


def occurrence_dict(event: Event, occ: Occurrence) -> dict[str, object]:
    """One occurrence of an event as a list shows it: the event's fields at this occurrence's
    times; `occurrence` is the date the rule gives it (what --on takes)."""
    data = event_dict(event)
    if not event.rrule:
        return data
    if event.all_day:
        assert event.start_date and event.end_date
        first = occ.start_utc.astimezone(ZoneInfo(event.tz)).date()
        start, end = first.isoformat(), (first + (event.end_date - event.start_date)).isoformat()
    else:
        start, end = iso_local(occ.start_utc, event.tz), iso_local(occ.end_utc, event.tz)
    data.update(
        start=start, end=end, start_utc=iso_utc(occ.start_utc), end_utc=iso_utc(occ.end_utc),
        status="cancelled" if occ.cancelled else event.status,
        occurrence=occ.original.astimezone(ZoneInfo(event.tz)).date().isoformat(),
        recurrence_id=iso_utc(occ.original), moved=occ.moved,
    )
    return data


def deadline_dict(deadline: Deadline) -> dict[str, object]:
    opens = None
    if deadline.opens_utc is not None:
        opens = (deadline.opens_date.isoformat() if deadline.opens_date
                 else iso_local(deadline.opens_utc, deadline.tz))
    return {
        "id": deadline.id, "uid": deadline.uid, "title": deadline.title,
        "status": deadline.status, "kind": deadline.kind, "tz": deadline.tz,
        "due": iso_local(deadline.due_utc, deadline.tz), "due_utc": iso_utc(deadline.due_utc),
        "due_date": deadline.due_date.isoformat() if deadline.due_date else None,
        "opens": opens,
        "opens_utc": iso_utc(deadline.opens_utc) if deadline.opens_utc else None,
        "event": deadline.event_id, "series": deadline.all_series,
        "instructions": deadline.instructions, "url": deadline.url, "email": deadline.email,
        "location": deadline.location, "visibility": deadline.visibility,
        "remind": deadline.remind, "sequence": deadline.sequence,
        "created": iso_utc(deadline.created_at), "modified": iso_utc(deadline.modified_at),
    }


def member_dict(member: Member, base_url: str) -> dict[str, object]:
    return {
        "id": member.id, "email": member.email, "name": member.name,
        "organisation": member.organisation, "tz": member.tz, "series": list(member.series),
        "kinds": list(member.kinds), "remind": member.remind, "active": member.active,
        "mail": member.mail, "status": "active" if member.active else "inactive",
        "feed_url": feed_url(base_url, member.feed_token),
        "page_url": member_page_url(base_url, member.unsubscribe_token),
        "created": iso_utc(member.created_at), "modified": iso_utc(member.modified_at),
    }


def local_text(utc: datetime, tz: str) -> str:
    """'Mon 14 Oct 2024 12:00 CEST' in the item's own zone."""
    local = utc.astimezone(ZoneInfo(tz))
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()}"


def due_text(deadline: Deadline) -> str:
    """'end of Fri 9 May 2025' for a deadline due on a date, else its local time and zone."""
    if deadline.due_date is not None:
        return f"end of {deadline.due_date:%a %-d %b %Y}"
    return local_text(deadline.due_utc, deadline.tz)


def event_when(event: Event) -> str:
    if event.all_day:
        assert event.start_date and event.end_date
        if event.start_date == event.end_date:
            return f"{event.start_date:%a %d %b %Y} (all day)"
        return f"{event.start_date:%a %d %b %Y} - {event.end_date:%a %d %b %Y}"
    end = event.end_utc.astimezone(ZoneInfo(event.tz))
    return f"{local_text(event.start_utc, event.tz)}-{end:%H:%M}"


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table (the last column is not padded)."""
    if not rows:
        return "(none)"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)] + [str(row[-1])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def recurrence_details(event: Event, now: datetime, shown: int = 5) -> dict[str, object]:
    """`event show` of a recurring event: the next occurrences and the changed ones."""
    coming = event_occurrences(event, window_start=now, window_end=now + LIST_HORIZON)
    changes = []
    for c in event.changes:
        day = c.original_utc.astimezone(ZoneInfo(event.tz)).date().isoformat()
        if c.cancelled:
            changes.append(f"{day} cancelled")
        elif c.start_utc is not None:
            changes.append(f"{day} moved to {iso_local(c.start_utc, event.tz)}")
    return {
        "next": [iso_local(o.start_utc, event.tz) + (" (cancelled)" if o.cancelled else "")
                 for o in coming[:shown]],
        "changes": changes,
    }


def unreadable(exc: Exception) -> str:
    return f"(unreadable: {printable(str(exc)) or type(exc).__name__})"


def _event_row(e: Event, o: Occurrence) -> list[str]:
    try:
        return [_occurrence_id(e, o), _occurrence_when(e, o), e.tz,
                "cancelled" if o.cancelled else e.status, ",".join(e.series), printable(e.title)]
    except ROW_ERRORS as exc:  # one bad row is marked; the others are still listed
        return [e.id, unreadable(exc), printable(str(e.tz)), str(e.status), "",
                printable(str(e.title))]


def events_table(rows: list[tuple[Event, Occurrence]]) -> str:
    """One line per occurrence; a recurring event's lines say which (`id@date`, + if moved)."""
    lines = [_event_row(e, o) for e, o in rows]
    return table(lines, ["ID", "WHEN (own zone)", "ZONE", "STATUS", "SERIES", "TITLE"])


def _occurrence_id(event: Event, occ: Occurrence) -> str:
    if not event.rrule:
        return event.id
    day = occ.original.astimezone(ZoneInfo(event.tz)).date().isoformat()
    return f"{event.id}@{day}" + (" (moved)" if occ.moved else "")


def _occurrence_when(event: Event, occ: Occurrence) -> str:
    if not event.rrule:
        return event_when(event)
    if event.all_day:
        assert event.start_date and event.end_date
        first = occ.start_utc.astimezone(ZoneInfo(event.tz)).date()
        last = first + (event.end_date - event.start_date)
        if first == last:
            return f"{first:%a %d %b %Y} (all day)"
        return f"{first:%a %d %b %Y} - {last:%a %d %b %Y}"
    end = occ.end_utc.astimezone(ZoneInfo(event.tz))
    return f"{local_text(occ.start_utc, event.tz)}-{end:%H:%M}"


def _deadline_row(d: Deadline) -> list[str]:
    try:
        due = due_text(d)
    except ROW_ERRORS as exc:
        due = unreadable(exc)
    return [d.id, due, printable(str(d.tz)), d.kind, d.status, d.event_id or "-", printable(d.title)]


def deadlines_table(deadlines: list[Deadline]) -> str:
    rows = [_deadline_row(d) for d in deadlines]
    return table(rows, ["ID", "DUE (own zone)", "ZONE", "KIND", "STATUS", "EVENT", "TITLE"])


def shown_or_unreadable(record: Event | Deadline, what: str) -> dict[str, object]:
    """One record for `show`; a row whose stored values cannot be shown says how to fix it."""
    try:
        return event_dict(record) if isinstance(record, Event) else deadline_dict(record)
    except ROW_ERRORS as exc:
        field = "--start" if isinstance(record, Event) else "--due"
        raise OperationalError(
            what, f"{record.id} is stored with values that cannot be shown ({exc}); give it "
            f"new ones with `tracker {what} edit {record.id} {field} ...`") from None


def listed(records: list[Deadline] | list[tuple[Event, Occurrence]]) -> list[dict[str, object]]:
    """JSON of each deadline or event occurrence; a row that cannot be shown becomes
    {id, uid, unreadable: reason}."""
    out: list[dict[str, object]] = []
    for record in records:
        try:
            out.append(occurrence_dict(*record) if isinstance(record, tuple)
                       else deadline_dict(record))
        except ROW_ERRORS as exc:
            row = record[0] if isinstance(record, tuple) else record
            out.append({"id": row.id, "uid": row.uid,
                        "unreadable": str(exc) or type(exc).__name__})
    return out


def members_table(members: list[Member]) -> str:
    rows = [[m.email, m.name, m.organisation, m.tz, ",".join(m.series) or "(all)",
             m.remind or "(default)", "active" if m.active else "inactive",
             "yes" if m.mail else "no"] for m in members]
    return table(rows, ["EMAIL", "NAME", "ORGANISATION", "ZONE", "SERIES", "REMIND", "STATUS",
                        "MAIL"])


def details(data: dict[str, object]) -> str:
    """A record as 'key: value' lines for `show` without --json."""
    width = max(len(k) for k in data)
    lines = []
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        elif value in (None, ""):
            value = "-"
        lines.append(f"{key.ljust(width)}  {value}")
    return "\n".join(lines)
