"""One row no reader can show (written by raw SQL, an older version, another machine) stops
nothing: listing marks it, publishing skips and names it, private feeds and rounds go on."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.helpers.cli import Cli
from tests.helpers.feed_data import member
from tests.helpers.remind_data import add_deadline_at, add_members, make_config
from tracker.db.engine import get_engine, session_scope
from tracker.feeds.private import PrivateFeeds
from tracker.feeds.render import FeedSettings
from tracker.scheduler.round import FeedPublisher, run_round

# The rows are spoiled the way only SQLite's loose typing lets them be (text in a time column).
pytestmark = pytest.mark.sqlite_only

TOKEN = "tokenZ_" + "z" * 25
# A start in the last hour of year 9999 (UTC): in Vienna (UTC+1) it is year 10000.
BAD_SQL = "9999-12-31 23:30:00.000000"
BAD_START_SQL = "9999-12-31 22:30:00.000000"


def spoil(url: str, table: str, row_id: str) -> None:
    """Write the unrenderable instant straight into the table, bypassing every check."""
    with get_engine(url).begin() as conn:
        if table == "events":
            conn.execute(text("UPDATE events SET start_utc = :s, end_utc = :t WHERE id = :id"),
                         {"s": BAD_START_SQL, "t": BAD_SQL, "id": row_id})
        else:
            conn.execute(text("UPDATE deadlines SET due_utc = :t WHERE id = :id"),
                         {"t": BAD_SQL, "id": row_id})


@pytest.fixture
def bad_cli(cli: Cli) -> Cli:
    cli.ok("event", "add", "Good meeting", "--start", "14 Oct 2024 12:00", "--id", "good",
           "--series", "untoc-cop")
    cli.ok("event", "add", "Bad meeting", "--start", "15 Oct 2024 12:00", "--id", "d3",
           "--series", "untoc-cop")
    cli.ok("deadline", "add", "Good deadline", "--due", "4 Oct 2024", "--id", "good-dl")
    cli.ok("deadline", "add", "Bad deadline", "--due", "5 Oct 2024 12:00", "--id", "bad-dl")
    url = "sqlite:///" + str(cli.config_file.parent / "tracker.db")
    spoil(url, "events", "d3")
    spoil(url, "deadlines", "bad-dl")
    return cli


def test_list_marks_the_unreadable_row_and_shows_the_others(bad_cli: Cli) -> None:
    out = bad_cli.ok("event", "list").output
    assert "good" in out and "Good meeting" in out
    line = next(row for row in out.splitlines() if row.startswith("d3 "))
    assert "unreadable" in line
    listed = json.loads(bad_cli.ok("event", "list", "--json").output)
    by_id = {e["id"]: e for e in listed}
    assert by_id["good"]["title"] == "Good meeting"
    assert "unreadable" in by_id["d3"]
    out = bad_cli.ok("deadline", "list").output
    assert "Good deadline" in out
    assert "unreadable" in next(r for r in out.splitlines() if r.startswith("bad-dl "))


def test_publish_skips_and_names_the_bad_rows_and_writes_the_rest(
        bad_cli: Cli, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = bad_cli.ok("publish")
    assert "d3.event@" in result.output and "bad-dl.deadline@" in result.output
    assert "skipped" in result.output
    feed = (bad_cli.config_file.parent / "calendars" / "all.ics").read_text(encoding="utf-8")
    assert "good.event@" in feed and "good-dl.deadline@" in feed
    assert "d3.event@" not in feed and "bad-dl.deadline@" not in feed
    assert any("d3.event@" in r.getMessage() for r in caplog.records)


def test_private_feed_leaves_the_bad_row_out(tmp_path: Path, sqlite_url: str) -> None:
    now = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
    add_deadline_at(sqlite_url, now, "good-dl", "4 Oct 2024")
    add_deadline_at(sqlite_url, now, "bad-dl", "5 Oct 2024")
    with session_scope(sqlite_url) as s:
        s.add(member("all@example.net", TOKEN, []))
    spoil(sqlite_url, "deadlines", "bad-dl")
    feeds = PrivateFeeds(FeedSettings(name="Alliance"))
    with session_scope(sqlite_url) as s:
        feed = feeds.feed(s, TOKEN, now)
    assert feed is not None
    assert b"good-dl.deadline@" in feed.data and b"bad-dl.deadline@" not in feed.data


def test_round_sends_every_other_due_reminder(tmp_path: Path, sqlite_url: str) -> None:
    now = datetime(2024, 10, 3, 10, 0, tzinfo=UTC)
    add_members(sqlite_url, now - timedelta(days=30), 6)
    add_deadline_at(sqlite_url, now - timedelta(days=30), "good-dl", "4 Oct 2024 18:00")
    add_deadline_at(sqlite_url, now - timedelta(days=30), "bad-dl", "4 Oct 2024 19:00")
    config = make_config(tmp_path, sqlite_url)
    with session_scope(sqlite_url) as s:  # plan both deadlines' reminders first
        from tracker.reminders import outbox
        outbox.sync(s, config, now)
    spoil(sqlite_url, "deadlines", "bad-dl")
    report = run_round(config, lambda: now, "test", publish=FeedPublisher())
    assert report.sent == 6  # every member's reminder about the good deadline
    assert report.failed == 6  # the bad deadline's, recorded with the reason
    sent = sorted(p.name for p in (tmp_path / "outbox").glob("*.eml"))
    assert len(sent) == 6


def test_show_and_edit_of_the_bad_row(bad_cli: Cli) -> None:
    result = bad_cli("event", "show", "d3")
    assert result.exit_code == 1 and "tracker event edit d3 --start" in result.stderr
    assert "unexpected" not in result.stderr
    bad_cli.ok("event", "edit", "d3", "--start", "16 Oct 2024 12:00", "--end", "13:00")
    assert "Bad meeting" in bad_cli.ok("event", "show", "d3").output
    bad_cli.ok("deadline", "edit", "bad-dl", "--due", "6 Oct 2024 12:00")
    assert "unreadable" not in bad_cli.ok("deadline", "list").output
