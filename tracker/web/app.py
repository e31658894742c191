"""HTTP: the published feeds with ETag/Last-Modified and 304s, members' private feeds, a page.

Routes (Starlette, served by uvicorn):
- ``/``, ``/m/<token>``, ``/api/upcoming``: the members' pages and their JSON (tracker.web.pages,
                            tracker.web.api, registered by `plugin_routes`);
- ``/<name>.ics``           a file from the calendars folder (only names that exist there;
                            anything with a slash, ``..`` or an odd character is a 404);
- ``/feeds/<token>.ics``    a member's private feed (see tracker.feeds.private: one indexed read of
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
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from threading import Lock

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from tracker.config import Config
from tracker.feeds.private import PrivateFeeds
from tracker.feeds.render import FeedSettings
from tracker.timeparse import utc_now
from tracker.web import api, pages, unsubscribe
from tracker.web.safety import (
    EXCEPTION_HANDLERS,
    FEED_NAME,
    TOKEN,
    install_redaction,
    not_found,
    published_feeds,
    web_session,
)

log = logging.getLogger(__name__)
CALENDAR_TYPE = "text/calendar; charset=utf-8"
NowFn = Callable[[], datetime]


def plugin_routes(config: Config, now_fn: NowFn) -> list[BaseRoute]:
    """Routes other modules add to the server: one line per module below the marker."""
    routes: list[BaseRoute] = []
    # --- other modules' routes register here, e.g. routes += unsubscribe.routes(config, now_fn)
    routes += unsubscribe.routes(config, now_fn)
    routes += pages.routes(config, now_fn)
    routes += api.routes(config, now_fn)
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


class FeedServer:
    """The request handlers, holding the config, the clock and small in-process caches."""

    def __init__(self, config: Config, now_fn: NowFn) -> None:
        self.config = config
        self.now_fn = now_fn
        self.folder = config.calendars_dir
        self._files: dict[str, tuple[tuple[int, int], _Body]] = {}
        self._private: dict[str, tuple[str, datetime]] = {}  # token -> (etag, first served)
        self.private = PrivateFeeds(FeedSettings.from_config(config))
        self._lock = Lock()

    def public_names(self) -> list[str]:
        return published_feeds(self.folder)

    def _file_body(self, name: str) -> _Body | None:
        if not FEED_NAME.match(name) or name not in self.public_names():
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

    def public_feed(self, request: Request) -> Response:
        body = self._file_body(request.path_params["name"])
        if body is None:
            return not_found()
        return _calendar_response(request, body, "public, max-age=300")

    def private_feed(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        token = name.removesuffix(".ics")
        if not name.endswith(".ics") or not TOKEN.match(token):
            return not_found()
        now = self.now_fn()
        with web_session(self.config.database_url) as session:  # a sync endpoint: in a thread
            feed = self.private.feed(session, token, now)
        if feed is None:
            return not_found()
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


def create_app(
    config: Config, now_fn: NowFn = utc_now, extra_routes: list[BaseRoute] | None = None
) -> Starlette:
    """The web app; `extra_routes` (and `plugin_routes`) come before the catch-all feed route."""
    server = FeedServer(config, now_fn)
    routes: list[BaseRoute] = [
        Route("/feeds/{name}", server.private_feed),
        *plugin_routes(config, now_fn),
        *(extra_routes or []),
        Route("/{name}", server.public_feed),
    ]
    app = Starlette(routes=routes, exception_handlers=dict(EXCEPTION_HANDLERS))
    # No redirect from '/x/' to '/x': Starlette builds it from the Host header, which would
    # send clients to any host a request names. Unknown paths, slashes included, are 404.
    app.router.redirect_slashes = False
    app.state.feed_server = server
    install_redaction()  # tokens in paths never reach uvicorn's logs
    return app


def run(config: Config, host: str, port: int) -> None:
    """Serve until interrupted (uvicorn; trusts X-Forwarded-* only from loopback)."""
    import uvicorn

    # uvicorn's dictConfig keeps the filters create_app attached to its loggers.
    uvicorn.run(
        create_app(config), host=host, port=port, log_level="info",
        proxy_headers=True, forwarded_allow_ips="127.0.0.1",
    )
