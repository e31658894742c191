"""`tracker serve`: real HTTP requests to uvicorn on a loopback port."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.feed_data import NOW
from tests.feedcheck import read_all
from tests.test_publish import TOKEN_A, TOKEN_B, fill, make_config
from tracker.config import Config
from tracker.models import Event
from tracker.publish import publish
from tracker.serve import create_app
from tracker.store import session_scope


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
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(port, config)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
        [sys.executable, "-c", "from tracker.cli import main; main()", "--config",
         str(cli_config), "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    with proc:
        _check_serving(proc, port, cli_config)


def _check_serving(proc: subprocess.Popen[bytes], port: int, cli_config: Path) -> None:
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
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


@pytest.fixture
def cli_config(cli: object, config_file: Path) -> Path:
    from tests.conftest import Cli

    assert isinstance(cli, Cli)
    cli.ok("event", "add", "Plenary", "--start", "2024-10-14 10:00", "--series", "untoc-cop")
    cli.ok("publish")
    return config_file
