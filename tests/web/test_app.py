"""`tracker serve`: real HTTP requests to uvicorn on a loopback port."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.helpers.feed_data import NOW, add_all, member, timed_event
from tests.helpers.feedcheck import read_all
from tests.helpers.feeds import TOKEN_A, TOKEN_B, fill, make_config, member_feed, publish
from tests.helpers.site import running
from tracker.config import Config
from tracker.db.engine import session_scope
from tracker.records.models import Deadline, Event, Member
from tracker.web.app import create_app


@dataclass
class Served:
    port: int
    config: Config

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str) -> Iterator[Served]:
    fill(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    publish(config, NOW)

    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    app = create_app(config, now_fn=lambda: NOW, extra_routes=[Route("/ping", ping)])
    with running(app) as port:
        yield Served(port, config)


def test_public_feed_200_with_etag_then_304(served: Served) -> None:
    status, headers, body = served.get("/all.ics")
    assert status == 200
    assert headers["content-type"] == "text/calendar; charset=utf-8"
    assert body == (served.config.calendars_dir / "all.ics").read_bytes()
    etag, last_modified = headers["etag"], headers["last-modified"]
    assert etag.startswith('"') and last_modified.endswith("GMT")
    status, headers, body = served.get("/all.ics", {"If-None-Match": etag})
    assert status == 304 and body == b"" and headers["etag"] == etag
    status, _, _ = served.get("/all.ics", {"If-Modified-Since": last_modified})
    assert status == 304
    status, _, _ = served.get("/all.ics", {"If-None-Match": '"something-else"'})
    assert status == 200


def test_changed_feed_gets_a_new_etag(served: Served, sqlite_url: str) -> None:
    _, headers, _ = served.get("/untoc-cop.ics")
    with session_scope(sqlite_url) as s:
        ev = s.get(Event, "vienna-summer")
        assert ev is not None
        ev.title, ev.sequence, ev.modified_at = "Moved plenary", 1, NOW
    publish(served.config, NOW + timedelta(seconds=2))
    status, new_headers, body = served.get("/untoc-cop.ics", {"If-None-Match": headers["etag"]})
    assert status == 200 and new_headers["etag"] != headers["etag"]
    assert b"SUMMARY:Moved plenary" in body


def test_private_feed_by_token(served: Served, tmp_path: Path) -> None:
    status, headers, body = served.get(f"/feeds/{TOKEN_B}.ics")
    assert status == 200 and headers["content-type"] == "text/calendar; charset=utf-8"
    assert headers["cache-control"].startswith("private")
    path = tmp_path / "private.ics"
    path.write_bytes(body)
    assert "members-csw.event@tracker.example.org" in read_all(path)
    status, _, _ = served.get(f"/feeds/{TOKEN_B}.ics", {"If-None-Match": headers["etag"]})
    assert status == 304
    status, _, _ = served.get(
        f"/feeds/{TOKEN_B}.ics",
        {"If-Modified-Since": format_datetime(NOW + timedelta(minutes=1), usegmt=True)},
    )
    assert status == 304
    status, _, all_body = served.get(f"/feeds/{TOKEN_A}.ics")
    assert status == 200 and len(all_body) > len(body)


@pytest.mark.parametrize("path", [
    "/feeds/" + "z" * 32 + ".ics",  # unknown token
    "/feeds/" + TOKEN_A,  # without .ics
    "/feeds/" + TOKEN_A[:-1] + ".ics",  # one character short
    "/feeds/tokenC_" + "c" * 25 + ".ics",  # inactive member
    "/feeds/../all.ics",
    "/../config.toml",
    "/%2e%2e/config.toml",
    "/..%2ftracker.db",
    "/%2e%2e%2ftracker.db",
    "/calendars/../tracker.db",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    "/..",
    "/tracker.db",
    "/.all.ics.tmp",
    "/ALL.ICS",
    "/nosuch.ics",
], ids=lambda p: p)
def test_not_found_without_hints(served: Served, path: str) -> None:
    status, headers, body = served.get(path)
    assert status == 404, path
    assert body == b"Not Found"
    assert "etag" not in headers


def test_index_lists_public_feeds(served: Served) -> None:
    status, headers, body = served.get("/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    page = body.decode()
    assert 'href="all.ics"' in page and 'href="deadlines.ics"' in page
    assert "https://tracker.example.org/untoc-cop.ics" in page
    assert TOKEN_A not in page


def test_extra_routes_are_mounted(served: Served) -> None:
    assert served.get("/ping")[:1] == (200,)
    assert served.get("/ping")[2] == b"pong"


@pytest.mark.slow
def test_tracker_serve_command_in_a_subprocess(cli_config: Path) -> None:
    """The real `tracker serve` entry point: uvicorn in its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tracker.cli.main import main; main()", "--config",
         str(cli_config), "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    with proc:
        logged = _check_serving(proc, port, cli_config)
    # Its own access log names each request, never a member's token (issue 9).
    assert "/feeds/<token>.ics" in logged and "/unsubscribe/<token>" in logged
    assert SECRET not in logged


SECRET = "secretZ_" + "z" * 24


def _check_serving(proc: subprocess.Popen[bytes], port: int, cli_config: Path) -> str:
    try:
        served = Served(port, make_config(cli_config.parent, "sqlite:///unused"))
        deadline = time.monotonic() + 30
        while True:
            try:
                status, headers, _ = served.get("/all.ics")
                break
            except OSError:
                assert proc.poll() is None, "tracker serve exited early"
                assert time.monotonic() < deadline, "tracker serve did not start"
                time.sleep(0.1)
        assert status == 200 and headers["content-type"] == "text/calendar; charset=utf-8"
        assert served.get("/../config.toml")[0] == 404
        assert served.get(f"/feeds/{SECRET}.ics")[0] == 404
        assert served.get(f"/unsubscribe/{SECRET}")[0] == 404
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    return (out + err).decode("utf-8", "replace")


@pytest.fixture
def cli_config(cli: object, config_file: Path) -> Path:
    from tests.helpers.cli import Cli

    assert isinstance(cli, Cli)
    cli.ok("event", "add", "Plenary", "--start", "2024-10-14 10:00", "--series", "untoc-cop")
    cli.ok("publish")
    return config_file


# --- private feeds cached per series set: same bytes as member_feed(), fresh after changes ---


@dataclass
class Clocked(Served):
    clock: list[datetime]
    app: Starlette

    def feed(self, token: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return self.get(f"/feeds/{token}.ics", headers)

    def expected(self, token: str) -> bytes | None:
        """What the uncached path renders from the database for the same clock."""
        return member_feed(self.config, token, self.clock[0])

    def bodies_built(self) -> int:
        return self.app.state.feed_server.private.stats["bodies_built"]


@pytest.fixture
def clocked(tmp_path: Path, sqlite_url: str) -> Iterator[Clocked]:
    """A server whose clock the test moves; no publish ran, so every VEVENT is rendered here."""
    fill(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    clock = [NOW]
    app = create_app(config, now_fn=lambda: clock[0])
    with running(app) as port:
        yield Clocked(port, config, clock, app)


def edit(db_url: str, model: type[Event] | type[Deadline], ident: str, **values: object) -> None:
    with session_scope(db_url) as s:
        row = s.get(model, ident)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)
        row.sequence += 1
        row.modified_at = NOW + timedelta(minutes=5)


def test_private_feed_bytes_equal_member_feed_and_repeat_with_one_etag(clocked: Clocked) -> None:
    for token in (TOKEN_A, TOKEN_B):
        status, headers, body = clocked.feed(token)
        assert status == 200 and body == clocked.expected(token)
        again = clocked.feed(token)
        assert again[0] == 200 and again[2] == body and again[1]["etag"] == headers["etag"]
    assert clocked.feed(TOKEN_A)[2] != clocked.feed(TOKEN_B)[2]  # different series sets
    assert clocked.bodies_built() == 2


def test_private_feed_follows_edit_cancel_and_age_out(clocked: Clocked, sqlite_url: str,
                                                      tmp_path: Path) -> None:
    _, first, _ = clocked.feed(TOKEN_B)
    edit(sqlite_url, Event, "ny-before", title="CSW side event moved")
    status, headers, body = clocked.feed(TOKEN_B)
    assert status == 200 and headers["etag"] != first["etag"]
    assert b"SUMMARY:CSW side event moved" in body and body == clocked.expected(TOKEN_B)
    assert clocked.feed(TOKEN_B, {"If-None-Match": first["etag"]})[0] == 200

    edit(sqlite_url, Event, "members-csw", status="cancelled", cancelled_at=NOW)
    _, cancelled, body = clocked.feed(TOKEN_B)
    path = tmp_path / "b.ics"
    path.write_bytes(body)
    uid = "members-csw.event@tracker.example.org"
    assert read_all(path)[uid].status == "CANCELLED" and body == clocked.expected(TOKEN_B)

    clocked.clock[0] = NOW + timedelta(days=59, hours=23)  # still inside cancelled_days (60)
    assert clocked.feed(TOKEN_B)[2] == body
    clocked.clock[0] = NOW + timedelta(days=60)  # no write happened: only the clock moved
    _, aged, body = clocked.feed(TOKEN_B)
    path.write_bytes(body)
    assert uid not in read_all(path) and aged["etag"] != cancelled["etag"]
    assert body == clocked.expected(TOKEN_B)


def test_items_cancelled_before_age_out_in_the_all_feed(clocked: Clocked) -> None:
    """The fixtures' cancelled items (1 and 2 days ago) drop out of the all-series feed."""
    seen = []
    for days in (0, 57, 58, 59, 60, 1):  # back in time too: a body is valid in a window only
        clocked.clock[0] = NOW + timedelta(days=days)
        status, _, body = clocked.feed(TOKEN_A)
        assert status == 200 and body == clocked.expected(TOKEN_A), days
        seen.append(body.count(b"STATUS:CANCELLED"))
    assert seen == [2, 2, 1, 0, 0, 2]


def test_change_outside_a_series_set_keeps_its_body(clocked: Clocked, sqlite_url: str) -> None:
    csw = clocked.feed(TOKEN_B)[2]
    everything = clocked.feed(TOKEN_A)[2]
    built = clocked.bodies_built()
    edit(sqlite_url, Event, "halifax-before", title="Conference on Disarmament, moved")
    assert clocked.feed(TOKEN_B)[2] == csw == clocked.expected(TOKEN_B)
    assert clocked.bodies_built() == built  # the csw body was kept
    changed = clocked.feed(TOKEN_A)[2]
    assert changed != everything and changed == clocked.expected(TOKEN_A)
    assert clocked.bodies_built() == built + 1


def test_event_change_reaches_its_deadlines_and_new_and_deleted_items(
    clocked: Clocked, sqlite_url: str
) -> None:
    clocked.feed(TOKEN_A)
    edit(sqlite_url, Event, "cop12", title="COP12, renamed", series=["untoc-cop", "csw"])
    body = clocked.feed(TOKEN_B)[2]  # COP12's deadlines now carry csw too
    assert b"UID:speakers.deadline@tracker.example.org" in body
    assert b"Event: COP12, renamed" in body.replace(b"\r\n ", b"").replace(b"\\,", b",")
    assert body == clocked.expected(TOKEN_B)
    with session_scope(sqlite_url) as s:
        add_all(s, [timed_event("csw-new", "America/New_York", datetime(2025, 3, 12, 9, 0), 60,
                                ["csw"])])
    body = clocked.feed(TOKEN_B)[2]
    assert b"UID:csw-new.event@tracker.example.org" in body and body == clocked.expected(TOKEN_B)
    with session_scope(sqlite_url) as s:
        s.delete(s.get(Event, "csw-new"))
        s.get(Event, "ny-after").visibility = "private"  # no longer shown to members
    body = clocked.feed(TOKEN_B)[2]
    assert b"csw-new.event" not in body and b"ny-after.event" not in body
    assert body == clocked.expected(TOKEN_B)


def test_same_series_set_other_member_gets_own_name(clocked: Clocked, sqlite_url: str,
                                                    tmp_path: Path) -> None:
    token = "tokenD_" + "d" * 25
    with session_scope(sqlite_url) as s:
        add_all(s, [member("d@example.net", token, ["csw"], name="Dana\r\nBcc: x@example.net")])
    _, b_headers, b_body = clocked.feed(TOKEN_B)
    status, headers, body = clocked.feed(token)
    assert status == 200 and body == clocked.expected(token) and headers["etag"] != b_headers["etag"]
    assert b"\r\nNAME:Alliance" in body and b"(Dana Bcc: x@example.net)\r\n" in body
    (tmp_path / "d.ics").write_bytes(body)
    (tmp_path / "b.ics").write_bytes(b_body)
    assert set(read_all(tmp_path / "d.ics")) == set(read_all(tmp_path / "b.ics"))
    assert body.split(b"BEGIN:VTIMEZONE", 1)[1] == b_body.split(b"BEGIN:VTIMEZONE", 1)[1]


def test_member_deactivated_or_token_changed_after_caching_is_404(
    clocked: Clocked, sqlite_url: str
) -> None:
    assert clocked.feed(TOKEN_B)[0] == 200
    with session_scope(sqlite_url) as s:
        row = s.scalars(select(Member).where(Member.feed_token == TOKEN_B)).one()
        row.active = False
    status, headers, body = clocked.feed(TOKEN_B)
    assert (status, body) == (404, b"Not Found") and "etag" not in headers
    with session_scope(sqlite_url) as s:
        row = s.scalars(select(Member).where(Member.feed_token == TOKEN_B)).one()
        row.active, row.feed_token = True, "tokenE_" + "e" * 25
    assert clocked.feed(TOKEN_B)[0] == 404
    assert clocked.feed("tokenE_" + "e" * 25)[2] == clocked.expected("tokenE_" + "e" * 25)
