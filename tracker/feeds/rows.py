"""Reading feed items from the database: ORM snapshots for publishing, and column-only reads
(no ORM objects) for the private feeds `tracker serve` keeps in memory."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, TypeAlias

from sqlalchemy import (
    JSON,
    ColumnElement,
    Row,
    Select,
    String,
    Text,
    cast,
    func,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import QueryableAttribute, Session, aliased
from sqlalchemy.types import TypeDecorator

from tracker.db.base import UTCDateTime
from tracker.errors import ROW_ERRORS
from tracker.feeds.render import (
    RENDER_VERSION,
    FeedItem,
    FeedSettings,
    Skipped,
    item_from_deadline,
    item_from_event,
)
from tracker.records.models import Deadline, Event, Member, OccurrenceChange
from tracker.records.recurrence import Change

VISIBLE_TO_MEMBERS = ("public", "members")
AnyRow: TypeAlias = "Row[*tuple[Any, ...]]"  # a Core row of any columns
Column: TypeAlias = "ColumnElement[Any] | QueryableAttribute[Any]"  # what select() takes


def load_items(session: Session, visibilities: Iterable[str] = ("public",),
               skipped: Skipped | None = None) -> list[FeedItem]:
    """Snapshot every event and deadline of the given visibilities (all statuses).

    Read column by column (`item_rows`), not as ORM objects: loading 10,000 Events with their
    changes through the ORM took most of a publish where one item had changed. A row that
    cannot become an item is left out and listed in `skipped` (UID, why)."""
    rows = item_rows(session, visibilities)
    recurring = row_changes(session, [r.uid for d, r in rows if not d and r.rrule])
    items: list[FeedItem] = []
    for is_deadline, row in rows:
        try:
            items.append(item_from_row(is_deadline, row, recurring.get(row.uid, ())))
        except ROW_ERRORS as exc:
            if skipped is not None:
                skipped.append((row.uid, str(exc) or type(exc).__name__))
    return items


def row_changes(session: Session, uids: Iterable[str]) -> dict[str, list[Change]]:
    """Changed occurrences of the recurring events with these UIDs, by UID."""
    wanted = sorted(set(uids))
    found: dict[str, list[Change]] = {}
    for i in range(0, len(wanted), 500):
        query = (select(Event.uid, OccurrenceChange.original_utc, OccurrenceChange.cancelled,
                        OccurrenceChange.start_utc, OccurrenceChange.end_utc)
                 .join(OccurrenceChange.event).where(Event.uid.in_(wanted[i : i + 500])))
        for uid, original, cancelled, start, end in session.execute(query):
            found.setdefault(uid, []).append(Change(original, cancelled, start, end))
    return found


def find_member(session: Session, token: str) -> Member | None:
    """The active member whose feed token is `token`, compared in constant time."""
    if not token or len(token) > 64:
        return None
    member = session.scalar(select(Member).where(Member.feed_token == token))
    if member is None or not hmac.compare_digest(member.feed_token, token) or not member.active:
        return None
    return member


def member_items(session: Session, member: Member, skipped: Skipped | None = None) -> list[FeedItem]:
    """Public and members-only items of the series the member follows (none listed = all)."""
    items = load_items(session, VISIBLE_TO_MEMBERS, skipped)
    if not member.series:
        return items
    return [i for i in items if member.follows(list(i.series))]


# --- Column-only reads for the private feeds served by `tracker serve` -------------------

_EVENT = aliased(Event)
EVENT_COLUMNS = {c.key: c for c in (
    Event.uid, Event.title, Event.tz, Event.start_utc, Event.end_utc, Event.all_day,
    Event.start_date, Event.end_date, Event.location, Event.mode, Event.url, Event.description,
    Event.status, Event.visibility, Event.series, Event.sequence, Event.created_at,
    Event.modified_at, Event.cancelled_at, Event.rrule, Event.rdates)}
DEADLINE_COLUMNS = {c.key: c for c in (
    Deadline.uid, Deadline.title, Deadline.kind, Deadline.tz, Deadline.due_utc, Deadline.due_date,
    Deadline.opens_utc, Deadline.opens_date, Deadline.first_due_utc, Deadline.first_due_date,
    Deadline.instructions, Deadline.url, Deadline.email,
    Deadline.location, Deadline.status, Deadline.visibility, Deadline.series, Deadline.sequence,
    Deadline.created_at, Deadline.modified_at, Deadline.cancelled_at)} | {
    "event_title": _EVENT.title, "event_series": _EVENT.series}


def item_rows(
    session: Session, visibilities: Iterable[str], uids: Iterable[str] | None = None,
    key: bool = False,
) -> list[tuple[bool, AnyRow]]:
    """(is_deadline, row) for every event and deadline of these visibilities, column by column.

    `uids` limits the read. `key` adds the row's `row_key`, read in the same statement as the
    values it stands for.
    """
    vis = tuple(visibilities)
    wanted = None if uids is None else sorted(uids)
    rows: list[tuple[bool, AnyRow]] = []
    connection = session.connection()  # Core rows: no ORM loading machinery
    dialect = connection.dialect.name
    for is_deadline, columns in ((False, EVENT_COLUMNS), (True, DEADLINE_COLUMNS)):
        table = Deadline if is_deadline else Event
        cols: list[Column] = [type_coerce(c, _Tags()).label(k) if isinstance(c.type, JSON)
                              else c.label(k) for k, c in columns.items()]
        if key:
            cols.append(row_key(is_deadline, dialect).label("row_key"))
        query = visible_query(is_deadline, vis, cols)
        if wanted is None:
            rows += [(is_deadline, r) for r in connection.execute(query)]
            continue
        for i in range(0, len(wanted), 500):
            chunk = query.where(table.uid.in_(wanted[i : i + 500]))
            rows += [(is_deadline, r) for r in connection.execute(chunk)]
    return rows


def visible_query(is_deadline: bool, visibilities: tuple[str, ...],
                  columns: Iterable[Column]) -> Select[Any]:
    """SELECT `columns` of the events (or deadlines) of these visibilities; a deadline is
    outer-joined to its event, whose columns DEADLINE_COLUMNS and `row_key` read."""
    table = Deadline if is_deadline else Event
    query = select(*columns).where(table.visibility.in_(visibilities))
    if is_deadline:
        query = query.outerjoin(_EVENT, Deadline.event_id == _EVENT.id)
    return query


def row_key(is_deadline: bool, dialect: str) -> ColumnElement[str]:
    """Everything an `item_rows` row shows, as one value the database computes: a JSON array
    of RENDER_VERSION, the row's columns and (events) its changed occurrences; its md5 on
    PostgreSQL. Equal keys mean an equal item, so a VEVENT cached with the key of the row it
    was rendered from (tracker.feeds.cache) is used without building the item, and a row
    changed in any column (even by hand) no longer matches. For `visible_query` selects.
    """
    pg = dialect == "postgresql"
    json_array = func.json_build_array if pg else func.json_array

    def shown(column: Column) -> Column:
        # PostgreSQL writes a timestamptz as text in the session's TimeZone: in UTC, a
        # scheduler and a server with other TimeZone settings compute the same key.
        return func.timezone("UTC", column) if pg and isinstance(column.type, UTCDateTime) \
            else column

    values: list[Column] = [cast(RENDER_VERSION, String)]
    values += map(shown, (DEADLINE_COLUMNS if is_deadline else EVENT_COLUMNS).values())
    if not is_deadline:
        change = json_array(*map(shown, (
            OccurrenceChange.original_utc, OccurrenceChange.cancelled,
            OccurrenceChange.start_utc, OccurrenceChange.end_utc, OccurrenceChange.modified_at)))
        changes = (func.json_agg(aggregate_order_by(change, OccurrenceChange.original_utc))
                   if pg else func.json_group_array(change))  # PK order
        values.append(select(changes).where(OccurrenceChange.event_id == Event.id)
                      .scalar_subquery())
    if pg:
        return func.md5(cast(json_array(*values), Text))
    return type_coerce(json_array(*values), Text)


class _Tags(TypeDecorator[tuple[str, ...]]):
    """A JSON list column (series tags, RDATEs) read as a tuple, each distinct text decoded
    once: the same few lists repeat across thousands of rows. PostgreSQL's driver hands over
    the list already decoded."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: str | list[str] | None, dialect: Dialect) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return _json_list(value)
        return tuple(value)  # a list from the driver


@lru_cache(maxsize=4096)
def _json_list(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _deadline_view(row: AnyRow) -> SimpleNamespace:
    """A deadline row with the two attributes `item_from_deadline` reads off the relationship."""
    view = SimpleNamespace(**row._mapping)
    view.event = SimpleNamespace(title=row.event_title) if row.event_title is not None else None
    own = list(row.series or [])
    view.all_series = own + [t for t in (row.event_series or []) if t not in own]
    return view


def item_from_row(is_deadline: bool, row: AnyRow, changes: Iterable[Change] = ()) -> FeedItem:
    """The FeedItem of a row from `item_rows` (equal to the one built from the ORM object);
    `changes`: a recurring event's changed occurrences (`row_changes`)."""
    if is_deadline:
        return item_from_deadline(_deadline_view(row))
    return item_from_event(row, changes)


@dataclass(frozen=True)
class FeedMember:
    name: str
    email: str
    series: frozenset[str]


def feed_member(session: Session, token: str) -> FeedMember | None:
    """`find_member` reading four columns by the unique feed_token index."""
    if not token or len(token) > 64:
        return None
    row = session.execute(
        select(Member.feed_token, Member.active, Member.name, Member.email, Member.series)
        .where(Member.feed_token == token)
    ).first()
    if row is None or not hmac.compare_digest(row.feed_token, token) or not row.active:
        return None
    return FeedMember(row.name, row.email, frozenset(row.series or ()))


def private_feed_title(settings: FeedSettings, name: str, email: str) -> str:
    return f"{settings.name} ({name or email})"
