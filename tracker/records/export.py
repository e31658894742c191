"""Every event (with its changed occurrences), deadline and member as JSON, and back.

`tracker export --json` writes what `tracker import json` reads into an empty database with
the same ids, UIDs, SEQUENCEs and times, so the feeds it publishes are byte-identical. The
columns are read off the models, so a new column is exported without touching this file.
Member tokens (private feed, unsubscribe) are included: the file is as secret as the database.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from tracker import timeparse as tp
from tracker.config import KINDS
from tracker.db.base import Base, UTCDateTime
from tracker.errors import TrackerError
from tracker.records.checks import (
    DEADLINE_STATUSES,
    EVENT_STATUSES,
    MODES,
    VISIBILITIES,
    check_choice,
)
from tracker.records.models import Deadline, Event, Member, OccurrenceChange

FORMAT = "tracker-export"
VERSION = 1
TABLES: tuple[tuple[str, type[Base]], ...] = (
    ("events", Event), ("occurrence_changes", OccurrenceChange), ("deadlines", Deadline),
    ("members", Member))


def _columns(model: type[Base]) -> list[Any]:
    return list(sa_inspect(model).columns)


def _out(value: object) -> object:
    if isinstance(value, datetime):
        return tp.iso_utc(value) if value.microsecond == 0 else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def export_data(session: Session, now: datetime) -> dict[str, object]:
    """Everything, ordered by primary key (so two exports of one database are equal)."""
    data: dict[str, object] = {"format": FORMAT, "version": VERSION,
                               "exported_at": tp.iso_utc(now)}
    for name, model in TABLES:
        columns = _columns(model)
        keys = [c for c in columns if c.primary_key]
        rows = session.scalars(select(model).order_by(*keys))
        data[name] = [{c.key: _out(getattr(row, c.key)) for c in columns} for row in rows]
    return data


def _in(column: Any, value: object, where: str) -> object:
    if value is None:
        return None
    try:
        if isinstance(column.type, UTCDateTime):
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError("no offset")
            return parsed
        if isinstance(column.type, Date):
            return date.fromisoformat(str(value))
    except ValueError:
        raise TrackerError(column.key, f"'{value}' is not an ISO 8601 value", where) from None
    return value


def import_data(session: Session, data: object) -> dict[str, int]:
    """Load an export into an empty database (refused otherwise); returns rows per table."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TrackerError("FILE", f"is not a tracker export (no \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise TrackerError("FILE", f"is export version {data.get('version')}; this tracker "
                                   f"reads version {VERSION}")
    for _, model in TABLES:
        if session.scalar(select(func.count()).select_from(model)):
            raise TrackerError("database", "is not empty; import json restores into an empty "
                                           "database (tracker init on a new file)")
    counts: dict[str, int] = {}
    for name, model in TABLES:
        rows = data.get(name, [])
        if not isinstance(rows, list):
            raise TrackerError(name, "must be a list")
        columns = {c.key: c for c in _columns(model)}
        for n, row in enumerate(rows, start=1):
            where = f"{name}[{n}]"
            if not isinstance(row, dict):
                raise TrackerError(name, "holds something that is not an object", where)
            unknown = set(row) - set(columns)
            if unknown:
                raise TrackerError(sorted(unknown)[0], "is not a column of this tracker", where)
            values = {k: _in(columns[k], v, where) for k, v in row.items()}
            _check(model, values, where)
            session.add(model(**values))
        counts[name] = len(rows)
        session.flush()
    return counts


def _check(model: type[Base], values: dict[str, object], where: str) -> None:
    """The values a wrong hand-edit would make dangerous: zones and the closed choices."""
    try:
        if "tz" in values:
            tp.parse_zone(str(values["tz"]))
        if model is Event:
            check_choice(str(values.get("status")), EVENT_STATUSES, "status")
            check_choice(str(values.get("mode")), MODES, "mode")
        if model is Deadline:
            check_choice(str(values.get("status")), DEADLINE_STATUSES, "status")
            check_choice(str(values.get("kind")), KINDS, "kind")
        if model in (Event, Deadline):
            check_choice(str(values.get("visibility")), VISIBILITIES, "visibility")
    except TrackerError as exc:
        raise exc.at(where) from None
