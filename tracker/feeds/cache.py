"""The per-item feed cache table: each VEVENT's text, keyed by UID, with the fingerprint of
everything it shows (see tracker.feeds.FeedItem). Rendering one VEVENT with icalendar costs
about a millisecond, so a publish of 30,000 unchanged items reads text instead of re-rendering
(figures in bench/feeds_bench.py). The table is a cache: deleting its rows is always safe.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import BigInteger, Integer, String, Text, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from tracker.db.base import Base

_CHUNK = 500


class FeedCacheEntry(Base):
    __tablename__ = "feed_cache"

    uid: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    vevent: Mapped[str] = mapped_column(Text)


def load(session: Session) -> dict[str, tuple[str, str]]:
    """Every cached VEVENT as {uid: (fingerprint, text)}."""
    rows = session.execute(
        select(FeedCacheEntry.uid, FeedCacheEntry.fingerprint, FeedCacheEntry.vevent)
    )
    return {uid: (fp, text) for uid, fp, text in rows}


def save(session: Session, entries: dict[str, tuple[str, str]], uids: Iterable[str]) -> int:
    """Upsert the given UIDs' entries; safe when two publishers race (last writer wins)."""
    rows = [{"uid": u, "fingerprint": entries[u][0], "vevent": entries[u][1]} for u in uids]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for i in range(0, len(rows), _CHUNK):
        stmt = insert(FeedCacheEntry).values(rows[i : i + _CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=["uid"],
            set_={"fingerprint": stmt.excluded.fingerprint, "vevent": stmt.excluded.vevent},
        )
        session.execute(stmt)
    return len(rows)


def prune(session: Session, stale: Iterable[str]) -> int:
    """Drop entries of items that no longer appear in any feed."""
    uids = sorted(stale)
    for i in range(0, len(uids), _CHUNK):
        session.execute(delete(FeedCacheEntry).where(FeedCacheEntry.uid.in_(uids[i : i + _CHUNK])))
    return len(uids)


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
