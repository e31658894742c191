"""Write imported items: match by UID, add new ones, update changed ones, leave the rest.

Part of `tracker import ics` (parsing is in tracker.ics.parse); runs inside the caller's one
transaction, so an error anywhere leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session, selectinload

from tracker import timeparse as tp
from tracker.config import KINDS
from tracker.errors import TrackerError
from tracker.ics.incoming import Incoming, in_file_words
from tracker.ics.parse import parse_ics
from tracker.records.checks import (
    DEADLINE_STATUSES,
    EVENT_STATUSES,
    MODES,
    VISIBILITIES,
    check_choice,
    check_email,
    check_text,
    check_title,
    check_url,
    check_window,
)
from tracker.records.models import Deadline, Event, OccurrenceChange

IMPORT_BATCH = 1000  # new rows per INSERT executemany: bounded memory, few statements
# Core tables, not ORM entities: 30,000 ORM objects cost seconds and hundreds of MB to build
# and flush, and the ORM's bulk insert would split batches on rows whose None values differ.
EVENTS, DEADLINES, CHANGES = (cast(Table, m.__table__) for m in (Event, Deadline,
                                                                  OccurrenceChange))


@dataclass
class _NewRows:
    """Rows of new items waiting for their batch INSERT (events before their changes)."""

    events: list[dict[str, object]] = field(default_factory=list)
    deadlines: list[dict[str, object]] = field(default_factory=list)
    changes: list[dict[str, object]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events) + len(self.deadlines)

    def write(self, session: Session) -> None:
        for table, rows in ((EVENTS, self.events), (CHANGES, self.changes),
                            (DEADLINES, self.deadlines)):
            if rows:
                session.execute(insert(table), rows)
                rows.clear()


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


# How much of an import of new items parsing takes (bench/ics_import_bench.py: about nine
# tenths, nearly all of it in icalendar): where the progress bar is when writing begins.
PARSE_SHARE = 0.9


def _share(progress: Callable[[int, int], None] | None, low: float, high: float,
           ) -> Callable[[int, int], None] | None:
    """`progress` for one stage, mapped onto [low, high] of the whole bar."""
    if progress is None:
        return None
    report = progress

    def stage(done: int, total: int) -> None:
        report(round(total * (low + (high - low) * done / total)), total)

    return stage


def import_ics(
    session: Session, data: bytes, source: str, *, default_tz: str, series: list[str], host: str,
    now: datetime, progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Parse the whole file first (a malformed one writes nothing), then add or update its items
    inside the caller's transaction; `source` names the file in messages. `progress` gets
    (done, total) through both, ending at (items, items)."""
    items, notes = parse_ics(data, default_tz, series, source,
                             progress=_share(progress, 0.0, PARSE_SHARE))
    report = apply_items(session, items, now, host, _share(progress, PARSE_SHARE, 1.0),
                         source=source)
    report.skipped += len(notes)
    report.notes[:0] = notes
    return report


def apply_items(
    session: Session, items: Sequence[Incoming], now: datetime, host: str,
    progress: Callable[[int, int], None] | None = None, source: str = "file",
) -> ImportReport:
    """Add or update each item (matched by UID); report what happened to each.

    New items are inserted IMPORT_BATCH rows at a time with Core executemany; existing ones are
    updated through the ORM (loaded with their occurrence changes and event in a few queries),
    whose flush batches the UPDATEs. A value the records' checks refuse stops the import (the
    caller's transaction rolls back, batches already sent included) with
    `<source>: VEVENT <UID>: <PROPERTY>: ...`.
    """
    report = ImportReport()
    uids = [i.uid for i in items]
    events = _by_uid(session, Event, uids)
    deadlines = _by_uid(session, Deadline, uids)
    taken = _taken_ids(session, [i.new_id() for i in items])
    seen: set[str] = set()
    new = _NewRows()
    for n, item in enumerate(items, start=1):
        if item.uid in seen:
            report.skipped += 1
            report.notes.append(f"skipped UID {item.uid}: appears twice in the file")
        else:
            seen.add(item.uid)
            try:
                _apply_one(item, events.get(item.uid), deadlines.get(item.uid), now,
                           report, taken, new)
            except TrackerError as exc:
                raise exc.at(f"{source}: VEVENT {item.uid}", in_file_words(exc.field)) from None
            if len(new) >= IMPORT_BATCH:
                new.write(session)
        if progress is not None:
            progress(n, len(items))
    new.write(session)
    session.flush()
    return report


Record = TypeVar("Record", Event, Deadline)


def _taken_ids(session: Session, wanted: list[str]) -> set[str]:
    """The ids among `wanted` that records already have (a new item then gets a longer one)."""
    found: set[str] = set()
    for model in (Event, Deadline):
        for i in range(0, len(wanted), 500):
            found.update(session.scalars(select(model.id).where(model.id.in_(wanted[i:i + 500]))))
    return found


def _free_id(item: Incoming, taken: set[str]) -> str:
    """The item's short id, or a longer one when the short one is taken (same title, digest
    prefix shared: with thousands of items of one title, 24 bits collide)."""
    for digits in (6, 16, 64):
        ident = item.new_id(digits)
        if ident not in taken:
            taken.add(ident)
            return ident
    raise TrackerError("UID", f"no free id for {item.uid}")  # pragma: no cover - sha256 full


def _by_uid(session: Session, model: type[Record], uids: list[str]) -> dict[str, Record]:
    """The records with these UIDs, with what the comparison reads (an event's occurrence
    changes, a deadline's event for its series) loaded up front, not one query per record."""
    related = Event.changes if model is Event else Deadline.event
    found: dict[str, Record] = {}
    for i in range(0, len(uids), 500):
        rows = session.scalars(select(model).where(model.uid.in_(uids[i : i + 500]))
                               .options(selectinload(related)))
        found.update({row.uid: row for row in rows})
    return found


def _apply_one(
    item: Incoming, event: Event | None, deadline: Deadline | None, now: datetime,
    report: ImportReport, taken: set[str], new: _NewRows,
) -> None:
    existing = deadline if item.is_deadline else event
    other = event if item.is_deadline else deadline
    if existing is None and other is not None:
        report.skipped += 1
        what = "an event" if item.is_deadline else "a deadline"
        report.notes.append(f"skipped UID {item.uid}: it is {what} here, not in the file")
        return
    if existing is None:
        ident = _free_id(item, taken)
        if item.is_deadline:
            new.deadlines.append(_new_deadline(item, now, ident))
        else:
            new.events.append(_new_row(item, now, ident))
            new.changes += _change_rows(item, ident, now)
        report.added += 1
        return
    assert isinstance(existing, Event | Deadline)
    if _is_older(item, existing):
        _, changed, series, occurrences = _differences(existing, item)
        if not (changed or series is not None or occurrences):  # e.g. we only added tags
            report.unchanged += 1
            return
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
    """The item's column values, through the same checks as every other door."""
    common: dict[str, object] = {
        "title": check_title(item.title),
        "tz": tp.parse_zone(item.tz).key,
        "location": check_text(item.location, "location", single_line=True),
        "url": check_url(item.url),
        "visibility": check_choice(item.visibility, VISIBILITIES, "visibility"),
    }
    if item.is_deadline:
        check_window(item.opens_utc, item.start_utc, item.tz)
        return {
            **common, "kind": check_choice(item.kind, KINDS, "kind"),
            "status": check_choice(item.status, DEADLINE_STATUSES, "status"),
            "opens_utc": item.opens_utc, "opens_date": item.opens_date,
            "due_date": item.due_date, "due_utc": item.start_utc,
            "instructions": check_text(item.description, "notes"),
            "email": check_email(item.email) if item.email else "",
        }
    return {
        **common, "all_day": item.all_day, "start_utc": item.start_utc, "end_utc": item.end_utc,
        "start_date": item.start_date, "end_date": item.end_date,
        "description": check_text(item.description, "description"),
        "status": check_choice(item.status, EVENT_STATUSES, "status"),
        "mode": check_choice(item.mode, MODES, "mode"),
        "rrule": item.rrule, "rdates": [t.astimezone(UTC).isoformat() for t in item.rdates],
    }


def _same_changes(event: Event, item: Incoming) -> bool:
    ours = [(c.original_utc, c.cancelled, c.start_utc, c.end_utc) for c in event.changes]
    theirs = [(c.original, c.cancelled, c.start_utc, c.end_utc) for c in item.changes]
    return sorted(ours) == sorted(theirs)


def _set_changes(event: Event, item: Incoming, now: datetime) -> None:
    event.changes[:] = [
        OccurrenceChange(original_utc=c.original, cancelled=c.cancelled, start_utc=c.start_utc,
                         end_utc=c.end_utc, modified_at=now)
        for c in item.changes]


def _differences(existing: Event | Deadline, item: Incoming,
                 ) -> tuple[dict[str, object], list[str], list[str] | None, bool]:
    """(new values, changed columns, new own series or None, occurrences changed).

    Series tags (the file's CATEGORIES and `--series`) are only ever added: a re-import
    without `--series`, or a file without our tags, must not take an item out of a series feed.
    """
    values = _values(item)
    if getattr(existing, "status", "") == "extended" and values.get("status") == "open":
        values["status"] = "extended"  # feeds show both as CONFIRMED
    changed = [k for k, v in values.items() if getattr(existing, k) != v]
    current = existing.all_series if isinstance(existing, Deadline) else existing.series
    added = [t for t in item.series if t not in current]
    series = [*existing.series, *added] if added else None
    occurrences = isinstance(existing, Event) and not _same_changes(existing, item)
    if not (changed or series is not None or occurrences):
        return values, [], None, False
    return values, changed, series, occurrences


def _update(existing: Event | Deadline, item: Incoming, now: datetime) -> bool:
    """Apply material differences; bump sequence and modified_at only when there are some."""
    values, changed, series, occurrences = _differences(existing, item)
    if not (changed or series is not None or occurrences):
        return False
    if isinstance(existing, Event) and occurrences:
        _set_changes(existing, item, now)
    for name in changed:
        setattr(existing, name, values[name])
    if series is not None:
        existing.series = series
    if "status" in changed:
        existing.cancelled_at = now if item.status == "cancelled" else None
    existing.sequence += 1
    existing.modified_at = now
    return True


def _new_row(item: Incoming, now: datetime, ident: str) -> dict[str, object]:
    """A new event's row, and what a new deadline's shares; every column is named, so
    each batch is one statement."""
    return {"id": ident, "uid": item.uid, "series": item.series, "sequence": item.sequence,
            "created_at": now, "modified_at": now,
            "cancelled_at": now if item.status == "cancelled" else None, **_values(item)}


def _change_rows(item: Incoming, ident: str, now: datetime) -> list[dict[str, object]]:
    return [{"event_id": ident, "original_utc": c.original, "cancelled": c.cancelled,
             "start_utc": c.start_utc, "end_utc": c.end_utc, "modified_at": now}
            for c in item.changes]


def _new_deadline(item: Incoming, now: datetime, ident: str) -> dict[str, object]:
    """A new deadline's row: standalone (the file's event link is not kept), first due as now."""
    return {**_new_row(item, now, ident), "event_id": None, "remind": None,
            "first_due_utc": item.start_utc, "first_due_date": item.due_date}
