"""Members' private feeds: whole VTIMEZONE+VEVENT bodies cached per series set.

A member's feed depends on their name (the calendar title), the series they follow and the data,
nothing else; so the body is built once per series set and kept until the data generation moves
(tracker.feedcache.FeedGeneration, bumped by database triggers) or a cancelled item in it ages
out. The items' VEVENTs come from the cache table publishing fills (tracker.feeds.cache), so a
server renders only rows changed since the last publish. tracker.web.app turns these into HTTP
responses.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from threading import Lock

from sqlalchemy.orm import Session

from tracker.errors import ROW_ERRORS
from tracker.feeds import cache as feedcache
from tracker.feeds.cache import Fragment, fragment
from tracker.feeds.render import (
    CALENDAR_END,
    FeedSettings,
    VeventCache,
    calendar_head,
    render_calendar,
    renderable,
    vtimezone_parts,
)
from tracker.feeds.rows import (
    VISIBLE_TO_MEMBERS,
    feed_member,
    find_member,
    item_from_row,
    item_rows,
    member_items,
    private_feed_title,
    row_changes,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _SetBody:
    """VTIMEZONEs + VEVENTs for one series set, valid while `now` is in [since, until)."""

    data: bytes
    digest: bytes
    since: datetime | None
    until: datetime | None

    def valid_at(self, now: datetime) -> bool:
        return (self.since is None or self.since <= now) and (self.until is None or now < self.until)


@dataclass(frozen=True)
class PrivateFeed:
    head: bytes
    body: bytes
    etag: str

    @property
    def parts(self) -> tuple[bytes, bytes, bytes]:
        return self.head, self.body, _END

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)


_END = CALENDAR_END.encode()


class PrivateFeeds:
    """A member's feed depends on their name (the calendar title), the series they follow and
    the data, not on anything else: the VTIMEZONE+VEVENT body is built once per series set
    and kept (LRU, bounded in bytes) until the data generation moves (one primary-key read per
    request, see tracker.feedcache.FeedGeneration) or a cancelled item in it ages out.

    The items come from the cache table that publishing fills (tracker.feeds.cache), so the
    first request after a start builds no item: if no row changed since the last publish (the
    generation it recorded is the current one) the table is read as it is; otherwise the
    database hands over the entries whose row key still matches, and the other rows (changed
    since, or never published) are rendered here, in memory: a server never writes. When the
    generation moves, each row's key is compared with the one held, and only changed rows are
    fetched again; bodies of series sets that no changed item touches are kept. Each
    `tracker serve` process holds its own copy.
    """

    def __init__(self, settings: FeedSettings, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.settings = settings
        self.max_bytes = max_bytes
        self.generation: int | None = None
        self.loaded = False
        self.entries: dict[str, Fragment] = {}
        self.order: list[Fragment] = []
        self.bodies: OrderedDict[frozenset[str], _SetBody] = OrderedDict()
        self.stats = {"reloads": 0, "rendered": 0, "bodies_built": 0, "from_publish": 0}
        self._lock = Lock()
        # Every body has VTIMEZONEs, which tracker.feeds.vtimezone builds with the `ical`
        # package's TZif reader, imported on first use (~0.06 s; the CLI never pays it): a
        # server pays it while starting, not during its first feed request.
        import ical.tzif.tzif  # noqa: F401

    def feed(self, session: Session, token: str, now: datetime) -> PrivateFeed | None:
        """The feed behind `token`; None when no active member has it. Bytes equal member_feed."""
        member = feed_member(session, token)
        if member is None:
            return None
        current = feedcache.generation(session)
        with self._lock:
            if not self.loaded or current is None or self.generation != current:
                with _collector_paused():
                    self._reload(session)
            body = self._body(member.series, now)
        title = private_feed_title(self.settings, member.name, member.email)
        head = _head(self.settings, title)
        etag = '"' + hashlib.sha256(head + b"\0" + body.digest).hexdigest()[:32] + '"'
        return PrivateFeed(head, body.data, etag)

    def _reload(self, session: Session) -> None:
        current = feedcache.generation(session)  # read first: rows are at least this new
        if not self.loaded:
            published = (None if current is None
                         else feedcache.published_fragments(session, current))
            if published is not None:  # no row changed since the publish: take the table
                self.entries = published
                self.stats["from_publish"] += 1
            else:  # each row's entry if its key still matches, else rendered here
                found, stale = feedcache.fragments(session)
                self.entries = found | self._render(session, stale)
        else:
            keys = feedcache.keys(session)
            changed = {uid for uid, key in keys.items()
                       if (e := self.entries.get(uid)) is None or e.key != key}
            gone = set(self.entries) - set(keys)
            found, stale = feedcache.fragments(session, None if len(changed) > 1000 else changed)
            found = {uid: f for uid, f in found.items() if uid in changed}
            found |= self._render(session, stale & changed)
            touched: set[str] = set()
            for uid in gone | changed:
                old = self.entries.pop(uid, None)
                touched |= old.series if old else set()
            for uid, new in found.items():
                self.entries[uid] = new
                touched |= new.series
            for series in list(self.bodies):  # "all" (empty set) shows every item
                if not series or series & touched:
                    del self.bodies[series]
        self.order = sorted(self.entries.values(), key=attrgetter("start_us", "uid"))
        self.generation, self.loaded = current, True
        self.stats["reloads"] += 1

    def _render(self, session: Session, uids: set[str]) -> dict[str, Fragment]:
        """Fragments of rows without a fresh cache entry, rendered here and kept in memory."""
        rows = item_rows(session, VISIBLE_TO_MEMBERS, uids=uids, key=True) if uids else []
        recurring = row_changes(session, [r.uid for d, r in rows if not d and r.rrule])
        rendered = VeventCache()
        made: dict[str, Fragment] = {}
        for is_deadline, row in rows:
            try:
                item = item_from_row(is_deadline, row, recurring.get(row.uid, ()))
                made[item.uid] = fragment(item, rendered.text(item), row.row_key)
            except ROW_ERRORS as exc:  # one unrenderable row costs itself, not the feed
                log.warning("left out of private feeds: %s cannot be rendered (%s)",
                            row.uid, exc)
        self.stats["rendered"] += len(rendered.dirty)
        return made

    def _body(self, series: frozenset[str], now: datetime) -> _SetBody:
        body = self.bodies.get(series)
        if body is not None and body.valid_at(now):
            self.bodies.move_to_end(series)
            return body
        # Comprehensions over the 30,000 entries, a Python loop only over the cancelled ones.
        candidates = (self.order if not series
                      else [e for e in self.order if not series.isdisjoint(e.series)])
        since: datetime | None = None
        until: datetime | None = None
        grace = self.settings.grace
        hidden: set[str] = set()
        for uid, cancelled in [(e.uid, c) for e in candidates
                               if (c := e.cancelled_since) is not None]:
            gone = cancelled + grace  # render.hidden_from, from the stored start
            if gone <= now:
                since = gone if since is None else max(since, gone)
                hidden.add(uid)
            else:
                until = gone if until is None else min(until, gone)
        shown = [e for e in candidates if e.uid not in hidden] if hidden else candidates
        years: dict[str, tuple[int, int]] = {}
        for zone, (lo, hi) in {(z, e.years) for e in shown if (z := e.zone) is not None}:
            old = years.get(zone)
            years[zone] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)
        text = "".join(vtimezone_parts(years) + [e.text for e in shown])
        data = text.encode("utf-8")
        body = _SetBody(data, hashlib.sha256(data).digest(), since, until)
        self.bodies[series] = body
        self.bodies.move_to_end(series)
        total = sum(len(b.data) for b in self.bodies.values())
        while total > self.max_bytes and len(self.bodies) > 1:
            total -= len(self.bodies.popitem(last=False)[1].data)
        self.stats["bodies_built"] += 1
        return body


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A load allocates some 100,000 objects (30,000 entries) and no reference cycle; Python's
    cyclic collector would meanwhile run dozens of times over all of them: half the load."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@lru_cache(maxsize=4096)
def _head(settings: FeedSettings, title: str) -> bytes:
    return calendar_head(settings, title).encode("utf-8")


def member_feed(
    session: Session, settings: FeedSettings, token: str, now: datetime,
    cache: VeventCache | None = None,
) -> bytes | None:
    """The private feed behind `token` rendered the plain way (every item through the ORM).

    The reference `PrivateFeeds` must equal byte for byte (the tests compare them), and the
    baseline of bench/private_feed_bench.py. None when no active member has that token.
    """
    member = find_member(session, token)
    if member is None:
        return None
    cache = cache if cache is not None else VeventCache(feedcache.load(session))
    skipped: list[tuple[str, str]] = []
    items = renderable(member_items(session, member, skipped), cache, skipped)
    name = private_feed_title(settings, member.name, member.email)
    return render_calendar(items, settings, now, name=name, cache=cache)
