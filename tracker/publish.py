"""Query the database, render the feeds, write the files that changed (atomically).

Public feeds (visibility "public" only; "members" and "private" never appear in them):
- ``all.ics``: every event and deadline;
- ``deadlines.ics``: deadlines only;
- ``<tag>.ics``: one per series tag (a deadline carries its own tags and its event's). A tag
  named ``all`` or ``deadlines`` is written as ``series-<tag>.ics`` so it cannot clobber those.

A member's private feed (served, not written) holds public and members-only items of the
series the member follows (no series = all). Rendered VEVENTs are cached per item in the
``feed_cache`` table, so a publish of unchanged items is a concatenation, and a file is only
replaced when its bytes differ (its mtime, ETag and Last-Modified then stay put).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, select, type_coerce
from sqlalchemy.orm import Session, aliased, selectinload
from sqlalchemy.types import NullType

from tracker import feedcache
from tracker.config import Config
from tracker.feeds import (
    FeedItem,
    FeedSettings,
    VeventCache,
    item_from_deadline,
    item_from_event,
    render_calendar,
)
from tracker.links import feed_url
from tracker.models import Deadline, Event, Member
from tracker.store import session_scope

log = logging.getLogger(__name__)
_SAFE_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
RESERVED = ("all", "deadlines")
VISIBLE_TO_MEMBERS = ("public", "members")


@dataclass(frozen=True)
class FeedFile:
    """What publishing did to one file."""

    name: str
    path: Path
    changed: bool
    items: int


@dataclass(frozen=True)
class PublishResult:
    files: list[FeedFile]
    rendered: int  # VEVENTs rendered anew (cache misses)

    @property
    def written(self) -> list[FeedFile]:
        return [f for f in self.files if f.changed]

    @property
    def unchanged(self) -> list[FeedFile]:
        return [f for f in self.files if not f.changed]


def private_feed_url(config: Config, member: Member) -> str:
    """The URL a member subscribes to: ``<base_url>feeds/<feed_token>.ics``."""
    return feed_url(config.tracker.base_url, member.feed_token)


def load_items(session: Session, visibilities: Iterable[str] = ("public",)) -> list[FeedItem]:
    """Snapshot every event and deadline of the given visibilities (all statuses)."""
    vis = tuple(visibilities)
    events = session.scalars(select(Event).where(Event.visibility.in_(vis)))
    deadlines = session.scalars(
        select(Deadline).where(Deadline.visibility.in_(vis)).options(selectinload(Deadline.event))
    )
    return [item_from_event(e) for e in events] + [item_from_deadline(d) for d in deadlines]


def series_file(tag: str) -> str:
    return f"series-{tag}.ics" if tag in RESERVED else f"{tag}.ics"


def public_feeds(items: list[FeedItem], settings: FeedSettings) -> dict[str, tuple[str, list[FeedItem]]]:
    """File name -> (calendar name, items) for every public feed."""
    feeds: dict[str, tuple[str, list[FeedItem]]] = {
        "all.ics": (settings.name, items),
        "deadlines.ics": (f"{settings.name}: deadlines", [i for i in items if i.is_deadline]),
    }
    by_tag: dict[str, list[FeedItem]] = {}
    for item in items:
        for tag in item.series:
            by_tag.setdefault(tag, []).append(item)
    for tag in sorted(by_tag):
        if not _SAFE_TAG.match(tag):
            log.warning("series tag %r is not a safe file name; no feed written for it", tag)
            continue
        feeds[series_file(tag)] = (f"{settings.name}: {tag}", by_tag[tag])
    return feeds


def write_feed(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` atomically (temp file + os.replace); False if already equal."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def publish(config: Config, now: datetime, out_dir: Path | None = None) -> PublishResult:
    """Render every public feed and write those whose bytes changed."""
    settings = FeedSettings.from_config(config)
    out = out_dir if out_dir is not None else config.calendars_dir
    with session_scope(config.database_url) as session:
        items = load_items(session)
        cache = VeventCache(feedcache.load(session))
        rendered = {
            name: render_calendar(feed_items, settings, now, name=title, cache=cache)
            for name, (title, feed_items) in public_feeds(items, settings).items()
        }
        _store_cache(session, cache)
    files = [
        FeedFile(name, out / name, write_feed(out / name, data), data.count(b"BEGIN:VEVENT\r\n"))
        for name, data in rendered.items()
    ]
    stale = _stale_files(out, set(rendered))
    if stale:
        log.info("series feeds no longer published, left in place: %s", ", ".join(stale))
    return PublishResult(files, len(cache.dirty))


def _store_cache(session: Session, cache: VeventCache) -> None:
    """Save new renderings; drop entries of items no public feed shows any more."""
    if cache.dirty:
        feedcache.save(session, dict(cache.entries), cache.dirty)
    # Private feeds share the table, so only prune items that no longer exist at all.
    stale = set(cache.entries) - _all_uids(session)
    if stale:
        feedcache.prune(session, stale)


def _all_uids(session: Session) -> set[str]:
    return set(session.scalars(select(Event.uid))) | set(session.scalars(select(Deadline.uid)))


def _stale_files(out: Path, current: set[str]) -> list[str]:
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.glob("*.ics") if p.name not in current)


def find_member(session: Session, token: str) -> Member | None:
    """The active member whose feed token is `token`, compared in constant time."""
    if not token or len(token) > 64:
        return None
    member = session.scalar(select(Member).where(Member.feed_token == token))
    if member is None or not hmac.compare_digest(member.feed_token, token) or not member.active:
        return None
    return member


def member_items(session: Session, member: Member) -> list[FeedItem]:
    """Public and members-only items of the series the member follows (none listed = all)."""
    items = load_items(session, VISIBLE_TO_MEMBERS)
    if not member.series:
        return items
    return [i for i in items if member.follows(list(i.series))]


# --- Column-only reads for the private feeds served by `tracker serve` (no ORM objects) -----

_EVENT = aliased(Event)
EVENT_COLUMNS = {c.key: c for c in (
    Event.uid, Event.title, Event.tz, Event.start_utc, Event.end_utc, Event.all_day,
    Event.start_date, Event.end_date, Event.location, Event.mode, Event.url, Event.description,
    Event.status, Event.visibility, Event.series, Event.sequence, Event.created_at,
    Event.modified_at, Event.cancelled_at)}
DEADLINE_COLUMNS = {c.key: c for c in (
    Deadline.uid, Deadline.title, Deadline.kind, Deadline.tz, Deadline.due_utc, Deadline.due_date,
    Deadline.opens_utc, Deadline.opens_date, Deadline.instructions, Deadline.url, Deadline.email,
    Deadline.location, Deadline.status, Deadline.visibility, Deadline.series, Deadline.sequence,
    Deadline.created_at, Deadline.modified_at, Deadline.cancelled_at)} | {
    "event_title": _EVENT.title, "event_series": _EVENT.series}


def item_rows(
    session: Session, visibilities: Iterable[str], raw: bool = False, uids: Iterable[str] | None = None
) -> list[tuple[bool, Row[Any]]]:
    """(is_deadline, row) for every event and deadline shown to members, column by column.

    `raw` skips the result types (datetimes stay as the driver returns them): a cheap
    fingerprint of a row, compared to find what changed. `uids` limits the read.
    """
    vis = tuple(visibilities)
    wanted = None if uids is None else sorted(uids)
    rows: list[tuple[bool, Row[Any]]] = []
    connection = session.connection()  # Core rows: no ORM loading machinery
    for is_deadline, columns in ((False, EVENT_COLUMNS), (True, DEADLINE_COLUMNS)):
        table = Deadline if is_deadline else Event
        cols = [type_coerce(c, NullType()).label(k) if raw else c.label(k) for k, c in columns.items()]
        query = select(*cols).where(table.visibility.in_(vis))
        if is_deadline:
            query = query.outerjoin(_EVENT, Deadline.event_id == _EVENT.id)
        if wanted is None:
            rows += [(is_deadline, r) for r in connection.execute(query)]
            continue
        for i in range(0, len(wanted), 500):
            chunk = query.where(table.uid.in_(wanted[i : i + 500]))
            rows += [(is_deadline, r) for r in connection.execute(chunk)]
    return rows


def _deadline_view(row: Row[Any]) -> SimpleNamespace:
    """A deadline row with the two attributes `item_from_deadline` reads off the relationship."""
    view = SimpleNamespace(**row._mapping)
    view.event = SimpleNamespace(title=row.event_title) if row.event_title is not None else None
    own = list(row.series or [])
    view.all_series = own + [t for t in (row.event_series or []) if t not in own]
    return view


def item_from_row(is_deadline: bool, row: Row[Any]) -> FeedItem:
    """The FeedItem of a row from `item_rows` (equal to the one built from the ORM object)."""
    if is_deadline:
        return item_from_deadline(_deadline_view(row))  # type: ignore[arg-type]
    return item_from_event(row)  # type: ignore[arg-type]


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


def load_cache(config: Config) -> VeventCache:
    """A VEVENT cache pre-loaded from the feed_cache table (for long-running servers)."""
    with session_scope(config.database_url) as session:
        return VeventCache(feedcache.load(session))


def member_feed(
    config: Config, token: str, now: datetime, cache: VeventCache | None = None
) -> bytes | None:
    """The private feed behind `token`, or None when no active member has that token."""
    settings = FeedSettings.from_config(config)
    with session_scope(config.database_url) as session:
        member = find_member(session, token)
        if member is None:
            return None
        cache = cache if cache is not None else VeventCache(feedcache.load(session))
        items = member_items(session, member)
        name = private_feed_title(settings, member.name, member.email)
        return render_calendar(items, settings, now, name=name, cache=cache)
