"""A database filled with the feed test matrix, its config, and publishing the way the CLI does."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from tests.helpers.feed_data import add_all, expected_times, hidden_rows, matrix, member
from tracker.config import Config, build_config
from tracker.db.engine import session_scope
from tracker.feeds.private import PrivateFeed, PrivateFeeds
from tracker.feeds.private import member_feed as render_member_feed
from tracker.feeds.render import FeedSettings
from tracker.records.models import Deadline, Event
from tracker.scheduler.round import publish

__all__ = ["TOKEN_A", "TOKEN_B", "db_expectations", "fill", "make_config", "member_feed",
           "private_feed", "publish"]

TOKEN_A = "tokenA_" + "a" * 25
TOKEN_B = "tokenB_" + "b" * 25


def make_config(tmp_path: Path, db_url: str) -> Config:
    return build_config(
        {"tracker": {"database": db_url, "base_url": "https://tracker.example.org/"}},
        base_dir=tmp_path,
    )


def fill(db_url: str) -> None:
    events, deadlines = matrix()
    more_events, more_deadlines = hidden_rows()
    with session_scope(db_url) as s:
        add_all(s, [*events, *more_events, *deadlines, *more_deadlines])
        add_all(s, [
            member("all@example.net", TOKEN_A, []),
            member("csw@example.net", TOKEN_B, ["csw"]),
            member("gone@example.net", "tokenC_" + "c" * 25, [], active=False),
        ])


def db_expectations(db_url: str) -> dict[str, tuple[object, object]]:
    with session_scope(db_url) as s:
        rows = list(s.scalars(select(Event))) + list(s.scalars(select(Deadline)))
        return {r.uid: expected_times(r) for r in rows}


def member_feed(config: Config, token: str, now: datetime) -> bytes | None:
    """The reference rendering of a member's private feed, in its own transaction."""
    with session_scope(config.database_url) as session:
        return render_member_feed(session, FeedSettings.from_config(config), token, now)


def private_feed(feeds: PrivateFeeds, config: Config, token: str, now: datetime) -> PrivateFeed | None:
    """What `tracker serve` answers for `token`: the cached feed, read in its own transaction."""
    with session_scope(config.database_url) as session:
        return feeds.feed(session, token, now)
