"""`tracker serve` under a busy database, in its logs and with a forged Host header."""

from __future__ import annotations

import http.client
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.helpers.feed_data import NOW
from tests.helpers.feeds import TOKEN_A, fill, make_config, publish
from tests.helpers.site import running
from tracker.db.engine import session_scope
from tracker.records.models import Member
from tracker.web.app import create_app


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[int, str]]:
    fill(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    publish(config, NOW)
    with running(create_app(config, now_fn=lambda: NOW)) as port:
        yield port, sqlite_url


def call(port: int, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def unsubscribe_token(url: str) -> str:
    with session_scope(url) as s:
        member = s.scalar(select(Member).where(Member.feed_token == TOKEN_A))
        assert member is not None
        return member.unsubscribe_token


@pytest.mark.sqlite_only  # holds SQLite's write lock with BEGIN IMMEDIATE
def test_feeds_answer_while_a_write_lock_is_held_and_the_write_gets_503(
        site: tuple[int, str]) -> None:
    port, url = site
    token = unsubscribe_token(url)
    locker = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=1, isolation_level=None,
                             check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    released = threading.Event()
    answers: dict[str, tuple[int, float, bool]] = {}

    guard = threading.Lock()

    def release() -> None:  # the lock ends after 10 s whatever happens (a bound, not a measure)
        with guard:
            if not released.is_set():
                released.set()
                locker.execute("ROLLBACK")

    timer = threading.Timer(10, release)
    timer.start()

    def post() -> None:
        status, headers, _ = call(port, "POST", f"/unsubscribe/{token}",
                                  {"Content-Type": "application/x-www-form-urlencoded"},
                                  b"List-Unsubscribe=One-Click")
        answers["post"] = (status, float(headers.get("retry-after", "0")), released.is_set())

    poster = threading.Thread(target=post)
    poster.start()
    time.sleep(0.2)  # the POST is waiting on the lock now
    status, _, body = call(port, "GET", "/all.ics")
    answers["feed"] = (status, 0.0, released.is_set())
    poster.join(timeout=60)
    timer.cancel()
    release()
    locker.close()
    assert answers["feed"] == (200, 0.0, False)  # answered before the lock was released
    assert b"BEGIN:VCALENDAR" in body
    post_status, retry_after, after_release = answers["post"]
    assert (post_status, after_release) == (503, False) and retry_after > 0
    with session_scope(url) as s:  # nothing was half-written; mail still goes to the member
        assert s.scalar(select(Member.mail).where(Member.feed_token == TOKEN_A)) is True


def test_tokens_never_reach_the_access_log(site: tuple[int, str]) -> None:
    port, url = site
    token = unsubscribe_token(url)
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    from uvicorn.logging import AccessFormatter

    keep = Keep(level=logging.DEBUG)
    keep.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    access = logging.getLogger("uvicorn.access")
    access.addHandler(keep)
    old_level = access.level
    access.setLevel(logging.DEBUG)
    try:
        for path in (f"/feeds/{TOKEN_A}.ics", f"/unsubscribe/{token}", f"/m/{TOKEN_A}",
                     f"/feeds/{TOKEN_A}.ics?x=1", "/all.ics"):
            call(port, "GET", path)
        deadline = time.monotonic() + 10
        while len(records) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        access.removeHandler(keep)
        access.setLevel(old_level)
    assert len(records) == 5, records
    joined = "\n".join(records)
    assert TOKEN_A not in joined and token not in joined
    assert "/feeds/<token>.ics" in joined and "/unsubscribe/<token>" in joined
    assert "/all.ics" in joined


@pytest.mark.parametrize("path", [f"/feeds/{TOKEN_A}.ics/", "/all.ics/", "/unsubscribe/x/",
                                  "/nosuch/"], ids=str)
def test_no_redirect_to_the_host_header(site: tuple[int, str], path: str) -> None:
    port, _ = site
    status, headers, _ = call(port, "GET", path, {"Host": "evil.example"})
    assert status == 404 and "location" not in headers
