"""Query the database, render the feeds, write the files that changed (atomically).

Public feeds (visibility "public" only; "members" and "private" never appear in them):
- ``all.ics``: every event and deadline;
- ``deadlines.ics``: deadlines only;
- ``<tag>.ics``: one per series tag (a deadline carries its own tags and its event's). A tag
  named ``all`` or ``deadlines`` is written as ``series-<tag>.ics`` so it cannot clobber those.

A member's private feed (served, not written) holds public and members-only items of the
series the member follows (no series = all). Rendered VEVENTs are cached per item in the
``feed_cache`` table, so a publish of unchanged items is a concatenation, and a file is only
replaced when its bytes differ (its mtime, ETag and Last-Modified then stay put). Publishing
also renders and stores the members-only items, each entry with the key of the row it came
from, so `tracker serve` concatenates members' feeds from the table without rendering (and
without writing: a server only reads the cache).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import ROW_ERRORS, OperationalError
from tracker.feeds import cache as feedcache
from tracker.feeds.render import (
    FeedItem,
    FeedSettings,
    Skipped,
    VeventCache,
    render_calendar,
    renderable,
)
from tracker.feeds.rows import VISIBLE_TO_MEMBERS, item_from_row, item_rows, load_items, row_changes
from tracker.records.models import Deadline, Event

log = logging.getLogger(__name__)
_SAFE_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
RESERVED = ("all", "deadlines")


@dataclass(frozen=True)
class FeedFile:
    """What publishing did to one file."""

    name: str
    path: Path
    changed: bool
    items: int


@dataclass(frozen=True)
class RenderedFeeds:
    """File name -> feed bytes, and how many VEVENTs were rendered anew (cache misses)."""

    feeds: dict[str, bytes]
    rendered: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (UID, why) left out


@dataclass(frozen=True)
class PublishResult:
    files: list[FeedFile]
    rendered: int  # VEVENTs rendered anew (cache misses)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (UID, why) left out

    @property
    def written(self) -> list[FeedFile]:
        return [f for f in self.files if f.changed]

    @property
    def unchanged(self) -> list[FeedFile]:
        return [f for f in self.files if not f.changed]


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


def render_public(session: Session, settings: FeedSettings, now: datetime) -> RenderedFeeds:
    """Render every public feed; VEVENTs rendered anew are saved to the cache table.

    A row that cannot be rendered is left out of every feed and reported (by UID, in the log and
    in `skipped`); the others are published."""
    skipped: Skipped = []
    generation = feedcache.generation(session)  # before any row: they are at least this new
    stale = feedcache.stale_uids(session)
    cache = VeventCache(feedcache.load(session))
    items = renderable(load_items(session, skipped=skipped), cache, skipped)
    for uid, why in skipped:
        log.warning("not published: %s cannot be rendered (%s)", uid, why)
    feeds = {
        name: render_calendar(feed_items, settings, now, name=title, cache=cache)
        for name, (title, feed_items) in public_feeds(items, settings).items()
    }
    _store_cache(session, cache, stale | cache.dirty)
    if generation is not None:
        feedcache.mark_published(session, generation)
    return RenderedFeeds(feeds, len(cache.dirty), skipped)


def write_public(rendered: RenderedFeeds, out: Path) -> PublishResult:
    """Write the feeds whose bytes changed into `out` (after the session is closed: no database
    lock is held while files are fsynced)."""
    try:
        files = [
            FeedFile(name, out / name, write_feed(out / name, data),
                     data.count(b"BEGIN:VEVENT\r\n"))
            for name, data in rendered.feeds.items()
        ]
    except OSError as exc:  # full, read-only, or a file where the folder should be
        where = exc.filename or out
        raise OperationalError("out_dir", f"cannot write {where}: {exc.strerror or exc}") from None
    stale = _stale_files(out, set(rendered.feeds))
    if stale:
        log.info("series feeds no longer published, left in place: %s", ", ".join(stale))
    return PublishResult(files, rendered.rendered, rendered.skipped)


def _store_cache(session: Session, cache: VeventCache, uids: set[str]) -> None:
    """Store the entries of these UIDs (rendering the members-only ones), each with the key of
    the row it is rendered from; drop entries of items members no longer see.

    On PostgreSQL each statement sees the latest commits, so the key is read in the same
    statement as the values the item is built from; a recurring event's changed occurrences
    come a statement later, so at worst an entry's text is newer than its key, and a server
    then finds the key outdated and renders that row itself: never an older text for a newer
    row. A row that cannot be rendered gets no entry."""
    wanted = None if len(uids) > 2000 else uids  # a few by UID, or all of them in one read
    rows = [(is_deadline, row) for is_deadline, row
            in item_rows(session, VISIBLE_TO_MEMBERS, uids=wanted, key=True) if row.uid in uids]
    recurring = row_changes(session, [r.uid for d, r in rows if not d and r.rrule])
    entries: list[tuple[str, feedcache.Fragment]] = []
    for is_deadline, row in rows:
        try:
            item = item_from_row(is_deadline, row, recurring.get(row.uid, ()))
            entries.append((item.fingerprint, feedcache.fragment(item, cache.text(item), row.row_key)))
        except ROW_ERRORS as exc:  # left out of public feeds and reported already, if public
            log.warning("not cached for private feeds: %s cannot be rendered (%s)", row.uid, exc)
    feedcache.save(session, entries)
    # Entries of items members no longer see (deleted, or made private) go: the table then
    # holds exactly what members' feeds show, which `feedcache.published_fragments` relies on.
    gone = set(cache.entries) - _members_uids(session)
    if gone:
        feedcache.prune(session, gone)


def _members_uids(session: Session) -> set[str]:
    return {uid for table in (Event, Deadline) for uid in session.scalars(
        select(table.uid).where(table.visibility.in_(VISIBLE_TO_MEMBERS)))}


def _stale_files(out: Path, current: set[str]) -> list[str]:
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.glob("*.ics") if p.name not in current)


