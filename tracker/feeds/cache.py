"""The per-item feed cache table: each VEVENT's text, keyed by UID, with the fingerprint of
everything it shows (see tracker.feeds.FeedItem). A VEVENT's first rendering costs about a
quarter of a millisecond (more for long unique texts; see tracker.feeds.render.render_vevent), so
a publish of 30,000 unchanged items reads text instead of re-rendering (figures in
bench/feeds_bench.py). The table is a cache: deleting its rows is always safe.

Publishing stores every item members may see (public and members-only), each with the
`row_key` of the row it was rendered from and what a feed needs to place it (start, series,
cancellation, zone years), so `tracker serve` assembles a private feed from these rows without
building a single item: the database compares each row's key with the stored one, and an entry
whose row changed since (or that was never stored) is simply not returned (`fragments`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Integer, Select, String, Text, and_, delete, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from tracker.db.base import Base
from tracker.feeds.render import RENDER_VERSION, FeedItem, cancelled_since, zones_used
from tracker.feeds.rows import VISIBLE_TO_MEMBERS, Column, row_key, visible_query
from tracker.records.models import Deadline, Event

_CHUNK = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class FeedCacheEntry(Base):
    __tablename__ = "feed_cache"

    uid: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    vevent: Mapped[str] = mapped_column(Text)
    row_key: Mapped[str] = mapped_column(Text)  # tracker.feeds.rows.row_key when rendered
    # Instants as UTC microseconds since 1970: 30,000 of them are read per server start, and
    # an int needs no conversion (a datetime column costs a Python call per row).
    start_us: Mapped[int] = mapped_column(BigInteger)  # the start: the feeds' sort key
    series: Mapped[str] = mapped_column(Text)  # JSON list of the item's series tags
    # A cancelled item's grace period starts here (render.cancelled_since).
    cancelled_us: Mapped[int | None] = mapped_column(BigInteger)
    zone: Mapped[str | None] = mapped_column(String(64))  # None: all-day (no VTIMEZONE)
    first_year: Mapped[int | None] = mapped_column(Integer)  # local years the VTIMEZONE covers
    last_year: Mapped[int | None] = mapped_column(Integer)


class FeedCacheState(Base):
    """One row: the data generation (FeedGeneration) the whole cache reflects, written by the
    publish that made it so. While the generation has not moved since, every row members may
    see has a fresh entry and no other entry exists, so a server reads the table as it is."""

    __tablename__ = "feed_cache_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    render_version: Mapped[str] = mapped_column(String(32))  # rows.RENDER_VERSION


class Fragment(NamedTuple):
    """One item's VEVENT text and what a feed needs to place it, without the item."""

    uid: str
    key: str  # the row_key of the row it was rendered from
    text: str
    start_us: int
    series: frozenset[str]
    cancelled_since: datetime | None
    zone: str | None
    years: tuple[int, int]


def fragment(item: FeedItem, text: str, key: str) -> Fragment:
    """The fragment of an item rendered to `text` from a row whose row_key was `key`."""
    zone, years = next(iter(zones_used([item]).items()), (None, (0, 0)))
    since = cancelled_since(item)
    return Fragment(item.uid, key, text, _micros(item.start_utc), frozenset(item.series), since,
                    zone, years)


def _micros(utc: datetime) -> int:
    return (utc - _EPOCH) // _MICROSECOND


def load(session: Session) -> dict[str, tuple[str, str]]:
    """Every cached VEVENT as {uid: (fingerprint, text)}."""
    rows = session.execute(
        select(FeedCacheEntry.uid, FeedCacheEntry.fingerprint, FeedCacheEntry.vevent)
    )
    return {uid: (fp, text) for uid, fp, text in rows}


def save(session: Session, entries: Iterable[tuple[str, Fragment]]) -> int:
    """Upsert (fingerprint, fragment) entries; safe when two publishers race (last writer wins)."""
    rows = [
        {"uid": f.uid, "fingerprint": fp, "vevent": f.text, "row_key": f.key,
         "start_us": f.start_us, "series": json.dumps(sorted(f.series)),
         "cancelled_us": None if f.cancelled_since is None else _micros(f.cancelled_since),
         "zone": f.zone,
         "first_year": f.years[0] if f.zone else None, "last_year": f.years[1] if f.zone else None}
        for fp, f in entries
    ]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(FeedCacheEntry)
    stmt = stmt.on_conflict_do_update(
        index_elements=["uid"], set_={k: stmt.excluded[k] for k in rows[0] if k != "uid"})
    # One statement with many parameter sets: compiled once and sent in batches (SQLAlchemy's
    # insertmanyvalues), not one 500-row VALUES statement compiled per chunk.
    session.connection().execute(stmt, rows)
    return len(rows)


def mark_published(session: Session, generation: int) -> None:
    """Record that the cache now reflects data `generation` (read before any row was)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(FeedCacheState).values(id=1, generation=generation,
                                         render_version=RENDER_VERSION)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["id"], set_={"generation": generation, "render_version": RENDER_VERSION}))


def published_fragments(session: Session, current: int) -> dict[str, Fragment] | None:
    """Every entry, when the cache reflects data generation `current` (so no row changed since
    the publish that filled it); None otherwise. The mark is read again in the statement that
    reads the entries: a publish committing meanwhile cannot pair its entries with another mark."""
    mark = select(FeedCacheState.generation, FeedCacheState.render_version).where(
        FeedCacheState.id == 1)
    if tuple(session.execute(mark).one_or_none() or ()) != (current, RENDER_VERSION):
        return None  # checked first: no use reading 30,000 entries that will not do
    query = mark.add_columns(FeedCacheEntry.uid, *_FRAGMENT_COLUMNS).outerjoin(
        FeedCacheEntry, true())
    rows = session.connection().execute(query).all()
    if not rows or tuple(rows[0][:2]) != (current, RENDER_VERSION):
        return None
    parsed: dict[str, frozenset[str]] = {}
    return {row[2]: _fragment(row[2:], parsed) for row in rows if row[2] is not None}


def prune(session: Session, stale: Iterable[str]) -> int:
    """Drop entries of items that no longer appear in any feed."""
    uids = sorted(stale)
    for i in range(0, len(uids), _CHUNK):
        session.execute(delete(FeedCacheEntry).where(FeedCacheEntry.uid.in_(uids[i : i + _CHUNK])))
    return len(uids)


_FRAGMENT_COLUMNS = (FeedCacheEntry.row_key, FeedCacheEntry.vevent, FeedCacheEntry.start_us,
                     FeedCacheEntry.series, FeedCacheEntry.cancelled_us, FeedCacheEntry.zone,
                     FeedCacheEntry.first_year, FeedCacheEntry.last_year)


def _with_entries(session: Session, columns: Iterable[Column]
                  ) -> list[tuple[type[Event] | type[Deadline], Select[Any]]]:
    """One SELECT per table of the rows members may see, each outer-joined to its cache entry
    only where the entry's row_key equals the row's key now (compared by the database)."""
    dialect = session.get_bind().dialect.name
    queries: list[tuple[type[Event] | type[Deadline], Select[Any]]] = []
    for is_deadline in (False, True):
        table = Deadline if is_deadline else Event
        fresh = and_(FeedCacheEntry.uid == table.uid,
                     FeedCacheEntry.row_key == row_key(is_deadline, dialect))
        query = visible_query(is_deadline, VISIBLE_TO_MEMBERS, [table.uid, *columns])
        queries.append((table, query.outerjoin(FeedCacheEntry, fresh)))
    return queries


def stale_uids(session: Session) -> set[str]:
    """UIDs of the rows members may see whose cache entry is missing or was rendered from
    other values (or another RENDER_VERSION)."""
    found: set[str] = set()
    for _, query in _with_entries(session, []):
        found.update(session.scalars(query.where(FeedCacheEntry.uid.is_(None))))
    return found


def fragments(session: Session, uids: Collection[str] | None = None
              ) -> tuple[dict[str, Fragment], set[str]]:
    """The fresh fragments of the rows members may see (or of `uids` among them), and the UIDs
    of the others (no entry for the row as it is now). Each fragment's text and key come from
    one statement, so a fragment is always that of its key."""
    connection = session.connection()  # Core rows: no ORM loading machinery
    found: dict[str, Fragment] = {}
    stale: set[str] = set()
    parsed: dict[str, frozenset[str]] = {}
    wanted = None if uids is None else sorted(uids)
    for table, query in _with_entries(session, _FRAGMENT_COLUMNS):
        chunks = [query] if wanted is None else [
            query.where(table.uid.in_(wanted[i : i + _CHUNK]))
            for i in range(0, len(wanted), _CHUNK)]
        for chunk in chunks:
            for row in connection.execute(chunk).all():
                if row[1] is None:  # no entry with the row's key now
                    stale.add(row[0])
                else:
                    found[row[0]] = _fragment(row, parsed)
    return found, stale


def _fragment(row: Sequence[Any], parsed: dict[str, frozenset[str]]) -> Fragment:
    """A fragment from (uid, *_FRAGMENT_COLUMNS); `parsed` caches the few distinct tag lists."""
    uid, key, text, start_us, series, cancelled_us, zone, first, last = row
    tags = parsed.get(series)
    if tags is None:
        tags = parsed[series] = frozenset(json.loads(series))
    since = None if cancelled_us is None else _EPOCH + cancelled_us * _MICROSECOND
    return Fragment(uid, key, text, start_us, tags, since, zone,
                    (first, last) if zone is not None else (0, 0))


def keys(session: Session) -> dict[str, str]:
    """{uid: row_key} of every row members may see, to find what changed since a load."""
    dialect = session.get_bind().dialect.name
    found: dict[str, str] = {}
    for is_deadline in (False, True):
        table = Deadline if is_deadline else Event
        query = visible_query(is_deadline, VISIBLE_TO_MEMBERS,
                              [table.uid, row_key(is_deadline, dialect)])
        found.update((uid, key) for uid, key in session.execute(query))
    return found


class FeedGeneration(Base):
    """One row whose counter database triggers bump on every change to events or deadlines
    (migration 0005), so a server can tell in one primary-key read whether its in-memory
    private feeds are still current."""

    __tablename__ = "feed_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


def generation(session: Session) -> int | None:
    """The current data generation (None if the row is missing: treat as always changed)."""
    return session.scalar(select(FeedGeneration.generation).where(FeedGeneration.id == 1))
