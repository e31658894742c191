"""The members' pages served for real: a season recorded through the services, uvicorn on a
loopback port, and a small HTTP client (urllib) that sees status, headers and body."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette

from tests.helpers.smtp_server import free_port
from tracker.config import Config, build_config
from tracker.db.engine import session_scope
from tracker.records.deadlines import DeadlineInput, add_deadline, cancel_deadline
from tracker.records.events import EventInput, add_event
from tracker.records.members import MemberInput, add_member
from tracker.records.models import Member
from tracker.scheduler.round import publish
from tracker.web.app import create_app

# Monday 1 March 2027, 09:00 Vienna: North America springs forward on 14 March, Europe on
# 28 March; in autumn Europe falls back on 31 October, North America on 7 November 2027.
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
HOST = "tracker.example.org"

# id -> (noon-Vienna day, Halifax clock, Karachi clock) for deadlines at 12:00 Vienna.
NOON_VIENNA = {
    "spring-gap": ("2027-03-22", "08:00", "16:00"),  # Vienna CET, Halifax already ADT
    "autumn-gap": ("2027-11-02", "08:00", "16:00"),  # Vienna back on CET, Halifax still ADT
    "summer": ("2027-06-14", "07:00", "15:00"),  # both on summer time
    "winter": ("2028-01-10", "07:00", "16:00"),  # both on standard time
}
PUBLIC_ORDER = ["soon", "spring-gap", "called-off", "ccpcj-session", "summer", "autumn-gap",
                "winter"]


def season(url: str, now: datetime = NOW) -> None:
    """Record the test season through the same services as the CLI."""
    with session_scope(url) as s:
        def dl(ident: str, due: str, kind: str, series: list[str], **kw: Any) -> None:
            add_deadline(s, DeadlineInput(title=f"Deadline {ident}", due=due, kind=kind,
                                          series=series, tz="Europe/Vienna", **kw),
                         deadline_id=ident, default_tz="Europe/Vienna", host=HOST, now=now)

        add_event(s, EventInput(title="CCPCJ session", start="2027-05-10", end="2027-05-14",
                                series=["ccpcj"], location="Vienna International Centre"),
                  event_id="ccpcj-session", default_tz="Europe/Vienna", host=HOST, now=now)
        add_event(s, EventInput(title="Members' meeting", start="2027-03-18 15:00", end="16:30",
                                series=["informal"], mode="online", visibility="members"),
                  event_id="members-meeting", default_tz="Europe/Vienna", host=HOST, now=now)
        dl("spring-gap", "2027-03-22 12:00", "speakers-list", ["untoc-cop"],
           notes="Send the speaker's name.", url="https://indico.un.org/")
        dl("autumn-gap", "2027-11-02 12:00", "registration", ["ccpcj"])
        dl("summer", "2027-06-14 12:00", "registration", ["untoc-cop"])
        dl("winter", "2028-01-10 12:00", "nomination", ["ccpcj"])
        dl("soon", "2027-03-05 12:00", "registration", ["untoc-cop"])
        dl("called-off", "2027-04-01", "application", ["untoc-cop"])
        dl("long-gone", "2027-04-02", "application", ["untoc-cop"])
        dl("past", "2027-02-01 12:00", "registration", ["untoc-cop"])
        dl("members-fee", "2027-03-20", "payment", ["informal"], visibility="members")
        cancel_deadline(s, "called-off", now=now - timedelta(days=1))
        cancel_deadline(s, "long-gone", now=now - timedelta(days=90))  # out of the feeds
        add_member(s, "halifax@example.org", MemberInput(name="Claire", tz="America/Halifax"),
                   default_tz="Europe/Vienna", now=now)
        add_member(s, "karachi@example.org", MemberInput(name="Imran", tz="Asia/Karachi",
                                                          series=["untoc-cop"]),
                   default_tz="Europe/Vienna", now=now)


def page_token(url: str, email: str) -> str:
    with session_scope(url) as s:
        member = s.scalar(select(Member).where(Member.email == email))
        assert member is not None
        return member.unsubscribe_token


def member_row(url: str, email: str) -> dict[str, Any]:
    """Every column of a member, to compare before and after a request."""
    with session_scope(url) as s:
        member = s.scalar(select(Member).where(Member.email == email))
        assert member is not None
        return {c.key: getattr(member, c.key) for c in Member.__table__.columns}


def site_config(tmp_path: Path, url: str) -> Config:
    return build_config({"tracker": {"database": url, "base_url": f"https://{HOST}/"}},
                        base_dir=tmp_path)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Site:
    base: str
    config: Config
    url: str  # the database

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, body: bytes, content_type: str = "application/x-www-form-urlencoded"
             ) -> Answer:
        return self.request("POST", path, body, {"Content-Type": content_type})

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})
        opener = urllib.request.build_opener(_NoRedirect())
        try:
            with opener.open(req, timeout=30) as resp:
                return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()},
                              resp.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Show a 303 as it is (the test checks where it points)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@contextmanager
def running(app: Starlette) -> Iterator[int]:
    """uvicorn serving `app` in a thread on a free loopback port; yields the port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serving(config: Config, now: datetime = NOW) -> Iterator[str]:
    """The whole app (`create_app`) served in a thread; yields its base address."""
    with running(create_app(config, now_fn=lambda: now)) as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def season_site(tmp_path: Path, url: str) -> Iterator[Site]:
    season(url)
    config = site_config(tmp_path, url)
    publish(config, NOW)
    with serving(config) as base:
        yield Site(base, config, url)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
