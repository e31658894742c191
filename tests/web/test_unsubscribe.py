"""One-click unsubscribe over real HTTP (uvicorn on a loopback port)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from tests.helpers.remind_data import add_members, make_config
from tests.helpers.smtp_server import free_port
from tracker.db.engine import session_scope
from tracker.records.models import Member
from tracker.web.app import create_app

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[str, str]]:
    add_members(sqlite_url, NOW, 2)
    config = make_config(tmp_path, sqlite_url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config, lambda: NOW), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", sqlite_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def token_and_active(url: str, email: str) -> tuple[str, bool]:
    with session_scope(url) as s:
        m = s.scalar(select(Member).where(Member.email == email))
        assert m is not None
        return m.unsubscribe_token, m.active


def request(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, str, dict]:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_get_shows_a_button_and_changes_nothing(site: tuple[str, str]) -> None:
    base, url = site
    token, _ = token_and_active(url, "m0000@example.net")
    status, page, headers = request(f"{base}/unsubscribe/{token}")
    assert status == 200 and '<form method="post">' in page and "m0000@example.net" in page
    assert "set-cookie" not in {k.lower() for k in headers}
    assert token_and_active(url, "m0000@example.net")[1] is True


def mail_flag(url: str, email: str) -> bool:
    with session_scope(url) as s:
        m = s.scalar(select(Member).where(Member.email == email))
        assert m is not None
        return m.mail


def feed_token(url: str, email: str) -> str:
    with session_scope(url) as s:
        m = s.scalar(select(Member).where(Member.email == email))
        assert m is not None
        return m.feed_token


def test_one_click_post_stops_mail_and_keeps_the_feed(site: tuple[str, str]) -> None:
    """Unsubscribing stops e-mail only: the member stays active and their feed still answers."""
    base, url = site
    token, _ = token_and_active(url, "m0000@example.net")
    feed = f"{base}/feeds/{feed_token(url, 'm0000@example.net')}.ics"
    assert request(feed)[0] == 200
    page = request(f"{base}/unsubscribe/{token}")[1]
    assert "calendar subscription keeps working" in page
    status, page, headers = request(f"{base}/unsubscribe/{token}", "POST",
                                    b"List-Unsubscribe=One-Click")
    assert status == 200 and "no more reminder" in page
    assert "calendar subscription keeps working" in page
    assert "set-cookie" not in {k.lower() for k in headers}
    assert mail_flag(url, "m0000@example.net") is False
    assert token_and_active(url, "m0000@example.net")[1] is True  # still a member
    assert mail_flag(url, "m0001@example.net") is True  # only that member
    status, body, _ = request(feed)
    assert status == 200 and body.startswith("BEGIN:VCALENDAR")  # calendar keeps working
    assert request(f"{base}/unsubscribe/{token}", "POST", b"List-Unsubscribe=One-Click")[0] == 200


@pytest.mark.parametrize("mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
                                    lambda t: t + "x", lambda t: "../" + t, lambda t: t[:-1] + "!"],
                         ids=["one-char", "longer", "traversal", "odd-char"])
def test_tampered_token_is_404_and_changes_nothing(site: tuple[str, str], mangle: object) -> None:
    base, url = site
    token, _ = token_and_active(url, "m0000@example.net")
    bad = mangle(token)  # type: ignore[operator]
    for method, body in (("GET", None), ("POST", b"List-Unsubscribe=One-Click")):
        assert request(f"{base}/unsubscribe/{bad}", method, body)[0] == 404
    assert token_and_active(url, "m0000@example.net")[1] is True
