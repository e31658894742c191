"""Write imported items: match by UID, add new ones, update changed ones, leave the rest.

Part of `tracker import ics` (parsing is in tracker.ics.parse); runs inside the caller's one
transaction, so an error anywhere leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import TrackerError
from tracker.ics.incoming import Incoming
from tracker.ics.parse import parse_ics
from tracker.records.models import Deadline, Event

EVENT_FIELDS = ("title", "tz", "all_day", "start_utc", "end_utc", "start_date", "end_date",
                "location", "url", "description", "status", "visibility", "mode")
DEADLINE_FIELDS = ("title", "tz", "kind", "location", "url", "status", "visibility",
                   "opens_utc", "opens_date", "due_date")


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


def import_ics(
    session: Session, data: bytes, source: str, *, default_tz: str, series: list[str], host: str,
    now: datetime, progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Parse the whole file first (a malformed one writes nothing), then add or update its items
    inside the caller's transaction; `source` names the file in messages."""
    items, notes = parse_ics(data, default_tz, series, source)
    report = apply_items(session, items, now, host, progress)
    report.skipped += len(notes)
    report.notes[:0] = notes
    return report


def apply_items(
    session: Session, items: Sequence[Incoming], now: datetime, host: str,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Add or update each item (matched by UID); report what happened to each."""
    report = ImportReport()
    uids = [i.uid for i in items]
    events = _by_uid(session, Event, uids)
    deadlines = _by_uid(session, Deadline, uids)
    seen: set[str] = set()
    for n, item in enumerate(items, start=1):
        if item.uid in seen:
            report.skipped += 1
            report.notes.append(f"skipped UID {item.uid}: appears twice in the file")
        else:
            seen.add(item.uid)
            _apply_one(session, item, events.get(item.uid), deadlines.get(item.uid), now, report)
        if progress is not None:
            progress(n, len(items))
    session.flush()
    return report


def _by_uid(session: Session, model: type, uids: list[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    for i in range(0, len(uids), 500):
        rows = session.scalars(select(model).where(model.uid.in_(uids[i : i + 500])))  # type: ignore[attr-defined]
        found.update({row.uid: row for row in rows})
    return found


def _apply_one(
    session: Session, item: Incoming, event: object, deadline: object, now: datetime,
    report: ImportReport,
) -> None:
    existing = deadline if item.is_deadline else event
    other = event if item.is_deadline else deadline
    if existing is None and other is not None:
        report.skipped += 1
        what = "an event" if item.is_deadline else "a deadline"
        report.notes.append(f"skipped UID {item.uid}: it is {what} here, not in the file")
        return
    if existing is None:
        session.add(_new_deadline(item, now) if item.is_deadline else _new_event(item, now))
        report.added += 1
        return
    assert isinstance(existing, Event | Deadline)
    if _is_older(item, existing):
        report.skipped += 1
        report.notes.append(
            f"skipped UID {item.uid}: our copy is newer (sequence {existing.sequence} > "
            f"{item.sequence} in the file)"
        )
        return
    if _update(existing, item, now):
        report.updated += 1
    else:
        report.unchanged += 1


def _is_older(item: Incoming, existing: Event | Deadline) -> bool:
    if item.sequence >= existing.sequence:
        return False
    return item.last_modified is None or item.last_modified < existing.modified_at


def _values(item: Incoming) -> dict[str, object]:
    if item.is_deadline:
        return {
            "title": item.title, "tz": item.tz, "kind": item.kind, "location": item.location,
            "url": item.url, "status": item.status, "visibility": item.visibility,
            "opens_utc": item.opens_utc, "opens_date": item.opens_date,
            "due_date": item.due_date, "due_utc": item.start_utc,
            "instructions": item.description, "email": item.email,
        }
    return {name: getattr(item, name) for name in EVENT_FIELDS}


def _update(existing: Event | Deadline, item: Incoming, now: datetime) -> bool:
    """Apply material differences; bump sequence and modified_at only when there are some."""
    values = _values(item)
    if getattr(existing, "status", "") == "extended" and values.get("status") == "open":
        values["status"] = "extended"  # feeds show both as CONFIRMED
    changed = [k for k, v in values.items() if getattr(existing, k) != v]
    current_series = existing.all_series if isinstance(existing, Deadline) else existing.series
    series_changed = list(current_series) != item.series
    if not changed and not series_changed:
        return False
    for name in changed:
        setattr(existing, name, values[name])
    if series_changed:
        own = item.series
        if isinstance(existing, Deadline) and existing.event is not None:
            own = [t for t in item.series if t not in existing.event.series]
        existing.series = own
    if "status" in changed:
        existing.cancelled_at = now if item.status == "cancelled" else None
    existing.sequence += 1
    existing.modified_at = now
    return True


def _new_event(item: Incoming, now: datetime) -> Event:
    return Event(
        id=item.new_id(), uid=item.uid, series=item.series, sequence=item.sequence,
        created_at=now, modified_at=now, cancelled_at=now if item.status == "cancelled" else None,
        **_values(item),
    )


def _new_deadline(item: Incoming, now: datetime) -> Deadline:
    if item.opens_utc is not None and item.opens_utc > item.start_utc:
        raise TrackerError(f"UID {item.uid} X-TRACKER-OPENS", "opens after it is due")
    return Deadline(
        id=item.new_id(), uid=item.uid, series=item.series, sequence=item.sequence,
        created_at=now, modified_at=now, cancelled_at=now if item.status == "cancelled" else None,
        event_id=None, **_values(item),
    )
