"""What is coming: upcoming events and deadlines read from the records, soonest first.

The members' pages and `/api/upcoming` list items straight from the tables (not by parsing the
published feeds), with the same visibility rules as the feeds: the public page shows public
items, a member's page public and members-only items of the series and kinds they follow.
A cancelled item stays listed (struck through) as long as it stays in the feeds
(`[calendars] cancelled_days`), so a member who saw it sees that it was called off.

An event is upcoming until it ends; a deadline until it is due. Each table is read in time
order with a limit, so a page costs two indexed reads however many items the calendar holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from tracker.config import KINDS
from tracker.errors import TrackerError
from tracker.records.checks import check_choice, check_tags
from tracker.records.models import Deadline, Event, Member

EVENT_KIND = "event"
LIST_KINDS = (EVENT_KIND, *KINDS)
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Entry:
    """One listed item, detached from the session (a page renders it after the read)."""

    type: str  # "event" or "deadline"
    id: str
    uid: str
    title: str
    kind: str  # "event" or the deadline kind
    status: str  # confirmed/tentative/cancelled, or open/extended/cancelled
    tz: str
    start_utc: datetime  # events: start; deadlines: due
    end_utc: datetime
    all_day: bool
    start_date: date | None  # all-day events
    end_date: date | None  # all-day events, inclusive
    due_date: date | None  # deadlines due "on a date"
    opens_utc: datetime | None
    opens_date: date | None
    instructions: str
    url: str
    email: str
    location: str
    mode: str
    series: tuple[str, ...]
    event_title: str
    visibility: str

    @property
    def is_deadline(self) -> bool:
        return self.type == "deadline"

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


@dataclass(frozen=True)
class Filters:
    """Checked filters: empty tuples mean 'everything'."""

    series: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    @classmethod
    def parse(cls, series: Iterable[str], kinds: Iterable[str]) -> Filters:
        """Check raw query values with the CLI's checks (`series`, `kind` named in errors)."""
        tags = tuple(check_tags(series, "series"))
        chosen: list[str] = []
        for raw in kinds:
            for part in raw.replace(",", " ").split():
                kind = check_choice(part, LIST_KINDS, "kind")
                if kind not in chosen:
                    chosen.append(kind)
        return cls(tags, tuple(chosen))


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise TrackerError("limit", f"'{raw}' is not accepted; give a number from 1 to {MAX_LIMIT}")
    return int(raw)


def upcoming(
    session: Session,
    now: datetime,
    *,
    visibilities: Sequence[str] = ("public",),
    filters: Filters = Filters(),
    member: Member | None = None,
    cancelled_days: int = 60,
    limit: int = DEFAULT_LIMIT,
) -> list[Entry]:
    """Items still ahead at `now` (events until they end, deadlines until due), soonest first.

    `member` narrows to the series and kinds they follow (the same rule as their reminders and
    private feed); `filters` narrow further. Cancelled items older than `cancelled_days` are
    gone, as from the feeds.
    """
    gone_before = now - timedelta(days=cancelled_days)
    entries: list[Entry] = []
    want_events = not filters.kinds or EVENT_KIND in filters.kinds
    deadline_kinds = [k for k in filters.kinds if k != EVENT_KIND]
    if want_events:  # a member's kinds choose deadlines only, as in their feed
        events = (
            select(Event)
            .where(Event.visibility.in_(visibilities), Event.end_utc >= now,
                   or_(Event.cancelled_at.is_(None), Event.cancelled_at > gone_before))
            .order_by(Event.start_utc, Event.id)
        )
        entries += _take((_from_event(e) for e in session.scalars(events)), filters, member, limit)
    if not filters.kinds or deadline_kinds:
        deadlines = (
            select(Deadline)
            .where(Deadline.visibility.in_(visibilities), Deadline.due_utc >= now,
                   or_(Deadline.cancelled_at.is_(None), Deadline.cancelled_at > gone_before))
            .options(selectinload(Deadline.event))
            .order_by(Deadline.due_utc, Deadline.id)
        )
        if deadline_kinds:
            deadlines = deadlines.where(Deadline.kind.in_(deadline_kinds))
        entries += _take((_from_deadline(d) for d in session.scalars(deadlines)), filters, member,
                         limit)
    entries.sort(key=lambda e: (e.start_utc, e.type, e.id))
    return entries[:limit]


def _take(found: Iterable[Entry], filters: Filters, member: Member | None, limit: int) -> list[Entry]:
    """The first `limit` entries that pass the series filter and the member's choices."""
    out: list[Entry] = []
    for entry in found:
        if filters.series and not set(filters.series) & set(entry.series):
            continue
        if member is not None and not member.follows(
            list(entry.series), entry.kind if entry.is_deadline else None
        ):
            continue
        out.append(entry)
        if len(out) >= limit:
            break
    return out


def _from_event(e: Event) -> Entry:
    return Entry(
        type="event", id=e.id, uid=e.uid, title=e.title, kind=EVENT_KIND, status=e.status,
        tz=e.tz, start_utc=e.start_utc, end_utc=e.end_utc, all_day=e.all_day,
        start_date=e.start_date if e.all_day else None,
        end_date=e.end_date if e.all_day else None, due_date=None, opens_utc=None,
        opens_date=None, instructions=e.description or "", url=e.url or "", email="",
        location=e.location or "", mode=e.mode or "", series=tuple(e.series or ()),
        event_title="", visibility=e.visibility,
    )


def _from_deadline(d: Deadline) -> Entry:
    return Entry(
        type="deadline", id=d.id, uid=d.uid, title=d.title, kind=d.kind, status=d.status,
        tz=d.tz, start_utc=d.due_utc, end_utc=d.due_utc, all_day=False, start_date=None,
        end_date=None, due_date=d.due_date, opens_utc=d.opens_utc, opens_date=d.opens_date,
        instructions=d.instructions or "", url=d.url or "", email=d.email or "",
        location=d.location or "", mode="", series=tuple(d.all_series),
        event_title=d.event.title if d.event is not None else "", visibility=d.visibility,
    )


def known_series(session: Session, visibilities: Sequence[str] = ("public",)) -> list[str]:
    """Every series tag used by items of these visibilities, sorted (for the filter menus)."""
    tags: set[str] = set()
    for column, vis in ((Event.series, Event.visibility), (Deadline.series, Deadline.visibility)):
        for series in session.scalars(select(column).where(vis.in_(visibilities))):
            tags.update(series or ())
    return sorted(tags)
