"""What every route of `tracker serve` shares for safety: short database waits off the event
loop with a 503 when the database is busy, and secret tokens kept out of uvicorn's logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from tracker.db.engine import session_scope
from tracker.errors import OperationalError

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# A request waits this long for another writer's lock, then gets a 503 with Retry-After: a
# feed reader or a one-click unsubscribe should never hang for the CLI's 30 s.
BUSY_SECONDS = 2.0
RETRY_AFTER = "5"


@contextmanager
def web_session(url: str) -> Iterator[Session]:
    """A session for a request: commits on success, waits at most BUSY_SECONDS for a lock.

    Call it from a sync endpoint (Starlette runs those in a thread) or through `off_loop`,
    never directly in an `async def`: the database call would block every other request."""
    with session_scope(url, busy_seconds=BUSY_SECONDS) as session:
        yield session


async def off_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking work (database, files) in the thread pool, keeping the event loop free."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def busy(request: Request, exc: Exception) -> Response:
    """503 + Retry-After for a database that is locked, slow or unreachable (never a 500)."""
    log.warning("database busy or unreachable for %s %s: %s", request.method,
                redact(request.url.path), exc)
    return PlainTextResponse("Service Unavailable: the database is busy; try again shortly",
                             status_code=503, headers={"Retry-After": RETRY_AFTER,
                                                       "Cache-Control": "no-store"})


EXCEPTION_HANDLERS = {OperationalError: busy}

# A member's secret as it appears in a URL (feed, unsubscribe and page tokens), and the names of
# the published feed files the server may read: anything else is answered by `not_found`.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,89}\.ics$")


def not_found() -> Response:
    """The one 404 of the server, the same as Starlette's own: a bad token looks like any path."""
    return PlainTextResponse("Not Found", status_code=404)


def published_feeds(folder: Path) -> list[str]:
    """The feed files `tracker publish` wrote into `folder`, by name (only safe names)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob("*.ics") if FEED_NAME.match(p.name))

# Paths whose last part is a member's secret: private feeds, unsubscribe links, members' pages.
_SECRET_PATH = re.compile(r"/(feeds|unsubscribe|m)/[^/?#\s\"']+?(\.ics)?(?=[/?#\s\"']|$)")


def redact(text: str) -> str:
    """'/feeds/abc.ics' -> '/feeds/<token>.ics' (also /unsubscribe/<token>, /m/<token>)."""
    return _SECRET_PATH.sub(lambda m: f"/{m.group(1)}/<token>{m.group(2) or ''}", text)


class RedactTokens(logging.Filter):
    """Rewrites log records so no secret token reaches a log, whatever the level.

    uvicorn's access formatter reads its values from `record.args`, so string arguments are
    redacted in place; records with other arguments (trace logs of ASGI scopes) are rendered
    and redacted whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and all(isinstance(a, str | int | float) for a in args):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
            record.msg = redact(str(record.msg))
        else:
            record.msg, record.args = redact(record.getMessage()), ()
        return True


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def install_redaction() -> None:
    """Attach the filter to every logger uvicorn writes to (idempotent)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
