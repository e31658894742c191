"""HTTP: the published feeds with ETag/Last-Modified and 304s, members' private feeds, a page.

Routes (Starlette, served by uvicorn):
- ``/``                     a small page listing the public feeds;
- ``/<name>.ics``           a file from the calendars folder (only names that exist there;
                            anything with a slash, ``..`` or an odd character is a 404);
- ``/feeds/<token>.ics``    a member's private feed (see `PrivateFeeds`: one indexed read of
                            the member, one of the data generation, then a body cached per
                            series set); an unknown token or an inactive member is a 404 that
                            looks like any other 404;
- routes of other modules, added by `plugin_routes` (e.g. one-click unsubscribe).

ETag is a hash of the bytes (for a private feed: of its head and the digest of its cached body,
so a 304 costs no hashing of megabytes). Last-Modified is the file's mtime (publish rewrites a file only
when its bytes change) or, for a private feed, when this process first served its current
bytes. If-None-Match wins over If-Modified-Since, as RFC 9110 says.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from threading import Lock

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from tracker import feedcache
from tracker.config import Config
from tracker.feeds import (
    CALENDAR_END,
    FeedSettings,
    VeventCache,
    calendar_head,
    hidden_from,
    vtimezone_parts,
    zones_used,
)
from tracker.publish import (
    VISIBLE_TO_MEMBERS,
    feed_member,
    item_from_row,
    item_rows,
    private_feed_title,
)
from tracker.store import session_scope
from tracker.timeparse import utc_now

log = logging.getLogger(__name__)
CALENDAR_TYPE = "text/calendar; charset=utf-8"
_FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,89}\.ics$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
NowFn = Callable[[], datetime]


def plugin_routes(config: Config, now_fn: NowFn) -> list[BaseRoute]:
    """Routes other modules add to the server: one line per module below the marker."""
    routes: list[BaseRoute] = []
    # --- other modules' routes register here, e.g. routes += unsubscribe.routes(config, now_fn)
    from tracker import unsubscribe

    routes += unsubscribe.routes(config, now_fn)
    return routes


@dataclass
class _Body:
    data: bytes
    etag: str
    last_modified: datetime


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _not_modified(request: Request, body: _Body) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or body.etag in tags
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:  # RFC 9110 dates are GMT
            since = since.replace(tzinfo=UTC)
        return body.last_modified.replace(microsecond=0) <= since
    return False


def _headers(body: _Body, cache_control: str) -> dict[str, str]:
    return {
        "ETag": body.etag,
        "Last-Modified": format_datetime(body.last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": cache_control,
    }


def _calendar_response(request: Request, body: _Body, cache_control: str) -> Response:
    headers = _headers(body, cache_control)
    if _not_modified(request, body):
        return Response(status_code=304, headers=headers)
    return Response(body.data, media_type=CALENDAR_TYPE, headers=headers)


def _not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404)  # the same as Starlette's own 404


class FeedServer:
    """The request handlers, holding the config, the clock and small in-process caches."""

    def __init__(self, config: Config, now_fn: NowFn) -> None:
        self.config = config
        self.now_fn = now_fn
        self.folder = config.calendars_dir
        self._files: dict[str, tuple[tuple[int, int], _Body]] = {}
        self._private: dict[str, tuple[str, datetime]] = {}  # token -> (etag, first served)
        self.private = PrivateFeeds(config)
        self._lock = Lock()

    def public_names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.glob("*.ics") if _FEED_NAME.match(p.name))

    def _file_body(self, name: str) -> _Body | None:
        if not _FEED_NAME.match(name) or name not in self.public_names():
            return None
        path = self.folder / name
        try:
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
            cached = self._files.get(name)
            if cached is not None and cached[0] == key:
                return cached[1]
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        body = _Body(data, _etag(data), datetime.fromtimestamp(stat.st_mtime, UTC))
        self._files[name] = (key, body)
        return body

    def index(self, request: Request) -> Response:
        base = self.config.tracker.base_url.rstrip("/") + "/"
        rows = "\n".join(
            f'<li><a href="{html.escape(n)}">{html.escape(n)}</a> '
            f"<code>{html.escape(base + n)}</code></li>"
            for n in self.public_names()
        ) or "<li>No feeds published yet: run <code>tracker publish</code>.</li>"
        name = html.escape(self.config.calendars.name)
        page = (
            f"<!doctype html>\n<html lang=en><meta charset=utf-8><title>{name}</title>\n"
            f"<h1>{name}</h1>\n<p>Subscribe to a feed in Google Calendar, Outlook, Apple "
            f"Calendar or Thunderbird with its address:</p>\n<ul>\n{rows}\n</ul>\n"
        )
        return HTMLResponse(page)

    def public_feed(self, request: Request) -> Response:
        body = self._file_body(request.path_params["name"])
        if body is None:
            return _not_found()
        return _calendar_response(request, body, "public, max-age=300")

    def private_feed(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        token = name.removesuffix(".ics")
        if not name.endswith(".ics") or not _TOKEN.match(token):
            return _not_found()
        now = self.now_fn()
        feed = self.private.feed(token, now)
        if feed is None:
            return _not_found()
        with self._lock:
            seen = self._private.get(token)
            if seen is None or seen[0] != feed.etag:
                seen = (feed.etag, now)
                self._private[token] = seen
        body = _Body(b"", feed.etag, seen[1])
        headers = _headers(body, "private, no-cache")
        if _not_modified(request, body):
            return Response(status_code=304, headers=headers)
        headers["Content-Length"] = str(feed.size)
        return _PartsResponse(feed.parts, media_type=CALENDAR_TYPE, headers=headers)


# --- Members' private feeds: whole bodies cached per series set ------------------------------


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


class _PartsResponse(Response):
    """Sends head, cached body and end as they are: no copy of a body of many megabytes."""

    def __init__(self, parts: tuple[bytes, ...], media_type: str, headers: dict[str, str]) -> None:
        self.parts = parts
        super().__init__(None, media_type=media_type, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        for i, part in enumerate(self.parts):
            await send({"type": "http.response.body", "body": part,
                        "more_body": i < len(self.parts) - 1})


class PrivateFeeds:
    """A member's feed depends on their name (the calendar title), the series they follow and
    the data, not on anything else: the VTIMEZONE+VEVENT body is built once per series set
    and kept (LRU, bounded in bytes) until the data generation moves (one primary-key read per
    request, see tracker.feedcache.FeedGeneration) or a cancelled item in it ages out.

    When the generation moves, rows are re-read column by column without result types and only
    those whose raw values changed are turned into items and rendered; bodies of series sets
    that no changed item touches are kept. Each `tracker serve` process holds its own copy.
    """

    def __init__(self, config: Config, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.config = config
        self.settings = FeedSettings.from_config(config)
        self.max_bytes = max_bytes
        self.generation: int | None = None
        self.loaded = False
        self.entries: dict[str, _Entry] = {}
        self.order: list[_Entry] = []
        self.bodies: OrderedDict[frozenset[str], _SetBody] = OrderedDict()
        self.stats = {"reloads": 0, "rendered": 0, "bodies_built": 0}
        self._lock = Lock()

    def feed(self, token: str, now: datetime) -> PrivateFeed | None:
        """The feed behind `token`; None when no active member has it. Bytes equal member_feed."""
        with session_scope(self.config.database_url) as session:
            member = feed_member(session, token)
            if member is None:
                return None
            current = feedcache.generation(session)
        with self._lock:
            if not self.loaded or current is None or self.generation != current:
                self._reload()
            body = self._body(member.series, now)
        title = private_feed_title(self.settings, member.name, member.email)
        head = _head(self.settings, title)
        etag = '"' + hashlib.sha256(head + b"\0" + body.digest).hexdigest()[:32] + '"'
        return PrivateFeed(head, body.data, etag)

    def _reload(self) -> None:
        url = self.config.database_url
        with session_scope(url) as session:
            current = feedcache.generation(session)  # read first: rows are at least this new
            raw = {(d, r.uid): tuple(r) for d, r in item_rows(session, VISIBLE_TO_MEMBERS, raw=True)}
            changed = {uid for (d, uid), key in raw.items()
                       if (e := self.entries.get(uid)) is None or e.key != key}
            gone = set(self.entries) - {uid for _, uid in raw}
            if changed:
                many = len(changed) > 1000
                rows = item_rows(session, VISIBLE_TO_MEMBERS, uids=None if many else changed)
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
                item = item_from_row(is_deadline, row)
                self.entries[item.uid] = _Entry(
                    key, item.uid, item.start_utc, frozenset(item.series), item.fingerprint,
                    rendered.text(item), hidden_from(item, self.settings), zones_used([item]))
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


def create_app(
    config: Config, now_fn: NowFn = utc_now, extra_routes: list[BaseRoute] | None = None
) -> Starlette:
    """The web app; `extra_routes` (and `plugin_routes`) come before the catch-all feed route."""
    server = FeedServer(config, now_fn)
    routes: list[BaseRoute] = [
        Route("/", server.index),
        Route("/feeds/{name}", server.private_feed),
        *plugin_routes(config, now_fn),
        *(extra_routes or []),
        Route("/{name}", server.public_feed),
    ]
    app = Starlette(routes=routes)
    app.state.feed_server = server
    return app


def run(config: Config, host: str, port: int) -> None:
    """Serve until interrupted (uvicorn; trusts X-Forwarded-* only from loopback)."""
    import uvicorn

    uvicorn.run(
        create_app(config), host=host, port=port, log_level="info",
        proxy_headers=True, forwarded_allow_ips="127.0.0.1",
    )
