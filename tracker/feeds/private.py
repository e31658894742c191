"""Members' private feeds: whole VTIMEZONE+VEVENT bodies cached per series set.

A member's feed depends on their name (the calendar title), the series they follow and the data,
nothing else; so the body is built once per series set and kept until the data generation moves
(tracker.feedcache.FeedGeneration, bumped by database triggers) or a cancelled item in it ages
out. tracker.web.app turns these into HTTP responses.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from threading import Lock

from sqlalchemy.orm import Session

from tracker.errors import ROW_ERRORS
from tracker.feeds import cache as feedcache
from tracker.feeds.render import (
    CALENDAR_END,
    FeedSettings,
    VeventCache,
    calendar_head,
    hidden_from,
    render_calendar,
    renderable,
    vtimezone_parts,
    zones_used,
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
class _Entry:
    """One item as the private feeds use it; `key` is its raw row, reused while unchanged."""

    key: tuple[object, ...]
    uid: str
    start_utc: datetime
    series: frozenset[str]
    fingerprint: str
    text: str
    hidden_from: datetime | None
    span: dict[str, tuple[int, int]]  # zone -> (first, last) local year; empty when all-day


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

    When the generation moves, rows are re-read column by column without result types and only
    those whose raw values changed are turned into items and rendered; bodies of series sets
    that no changed item touches are kept. Each `tracker serve` process holds its own copy.
    """

    def __init__(self, settings: FeedSettings, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.settings = settings
        self.max_bytes = max_bytes
        self.generation: int | None = None
        self.loaded = False
        self.entries: dict[str, _Entry] = {}
        self.order: list[_Entry] = []
        self.bodies: OrderedDict[frozenset[str], _SetBody] = OrderedDict()
        self.stats = {"reloads": 0, "rendered": 0, "bodies_built": 0}
        self._lock = Lock()

    def feed(self, session: Session, token: str, now: datetime) -> PrivateFeed | None:
        """The feed behind `token`; None when no active member has it. Bytes equal member_feed."""
        member = feed_member(session, token)
        if member is None:
            return None
        current = feedcache.generation(session)
        with self._lock:
            if not self.loaded or current is None or self.generation != current:
                self._reload(session)
            body = self._body(member.series, now)
        title = private_feed_title(self.settings, member.name, member.email)
        head = _head(self.settings, title)
        etag = '"' + hashlib.sha256(head + b"\0" + body.digest).hexdigest()[:32] + '"'
        return PrivateFeed(head, body.data, etag)

    def _reload(self, session: Session) -> None:
        current = feedcache.generation(session)  # read first: rows are at least this new
        raw = {(d, r.uid): tuple(r) for d, r in item_rows(session, VISIBLE_TO_MEMBERS, raw=True)}
        changed = {uid for (d, uid), key in raw.items()
                   if (e := self.entries.get(uid)) is None or e.key != key}
        gone = set(self.entries) - {uid for _, uid in raw}
        if changed:
            many = len(changed) > 1000
            rows = item_rows(session, VISIBLE_TO_MEMBERS, uids=None if many else changed)
            recurring = row_changes(session, [r.uid for d, r in rows if not d and r.rrule])
            rendered = VeventCache(feedcache.load(session) if many else {
                u: (self.entries[u].fingerprint, self.entries[u].text)
                for u in changed if u in self.entries})
        touched: set[str] = set()
        for uid in gone | changed:
            old = self.entries.pop(uid, None)
            touched |= old.series if old else set()
        if changed:
            for is_deadline, row in rows:
                key = raw.get((is_deadline, row.uid))
                if row.uid not in changed or key is None:
                    continue
                try:
                    item = item_from_row(is_deadline, row, recurring.get(row.uid, ()))
                    entry = _Entry(
                        key, item.uid, item.start_utc, frozenset(item.series), item.fingerprint,
                        rendered.text(item), hidden_from(item, self.settings), zones_used([item]))
                except ROW_ERRORS as exc:  # one unrenderable row costs itself, not the feed
                    log.warning("left out of private feeds: %s cannot be rendered (%s)",
                                row.uid, exc)
                    continue
                self.entries[item.uid] = entry
                touched |= set(item.series)
            self.stats["rendered"] += len(rendered.dirty)
        self.order = sorted(self.entries.values(), key=lambda e: (e.start_utc, e.uid))
        for series in list(self.bodies):  # "all" (empty set) shows every item
            if not series or series & touched:
                del self.bodies[series]
        self.generation, self.loaded = current, True
        self.stats["reloads"] += 1

    def _body(self, series: frozenset[str], now: datetime) -> _SetBody:
        body = self.bodies.get(series)
        if body is not None and body.valid_at(now):
            self.bodies.move_to_end(series)
            return body
        since: datetime | None = None
        until: datetime | None = None
        shown: list[_Entry] = []
        for entry in self.order:
            if series and series.isdisjoint(entry.series):
                continue
            gone = entry.hidden_from
            if gone is not None:
                if gone <= now:
                    since = gone if since is None else max(since, gone)
                    continue
                until = gone if until is None else min(until, gone)
            shown.append(entry)
        years: dict[str, tuple[int, int]] = {}
        for entry in shown:
            for zone, (lo, hi) in entry.span.items():
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
