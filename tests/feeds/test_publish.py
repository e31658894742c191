"""Publishing from a real database: files, visibility, byte-identical republish, edits, cancels."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tests.helpers.cli import Cli
from tests.helpers.feed_data import (
    NOW,
    add_all,
    member,
    timed_event,
)
from tests.helpers.feedcheck import read_all, read_icalendar
from tests.helpers.feeds import (
    TOKEN_A,
    TOKEN_B,
    db_expectations,
    fill,
    make_config,
    member_feed,
    private_feed,
    publish,
)
from tracker.db.engine import session_scope
from tracker.feeds import cache as feedcache
from tracker.feeds.cache import FeedCacheEntry
from tracker.feeds.private import PrivateFeeds
from tracker.feeds.publish import write_feed
from tracker.feeds.render import FeedSettings
from tracker.links import feed_url
from tracker.records.models import Deadline, Event, Member


def test_publish_writes_public_feeds_that_three_parsers_agree_on(
    tmp_path: Path, db_url: str
) -> None:
    fill(db_url)
    config = make_config(tmp_path, db_url)
    result = publish(config, NOW)
    names = sorted(f.name for f in result.files)
    assert names == sorted(["all.ics", "deadlines.ics", "untoc-cop.ics", "informal.ics",
                            "csw.ics", "cd.ics", "congress.ics", "side-event.ics", "ahc.ics"])
    assert all(f.changed for f in result.files)
    truth = db_expectations(db_url)
    out = config.calendars_dir
    feeds = {name: read_all(out / name) for name in names}
    for name, items in feeds.items():
        for uid, got in items.items():
            assert (got.start, got.end) == truth[uid], (name, uid)
        assert not any(u.startswith(("members-", "private-")) for u in items), name
    assert len(feeds["all.ics"]) == 23
    assert all(".deadline@" in u for u in feeds["deadlines.ics"])
    assert len(feeds["deadlines.ics"]) == 5
    # a deadline is in its event's series feed too (COP12 -> untoc-cop)
    assert "speakers.deadline@tracker.example.org" in feeds["untoc-cop.ics"]
    assert set(feeds["csw.ics"]) == {"ny-before.event@tracker.example.org",
                                     "ny-after.event@tracker.example.org",
                                     "csw-statement.deadline@tracker.example.org"}


def test_republish_without_change_is_byte_identical_and_leaves_mtime(
    tmp_path: Path, sqlite_url: str
) -> None:
    fill(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    first = publish(config, NOW)
    before = {f.name: (f.path.read_bytes(), f.path.stat().st_mtime_ns) for f in first.files}
    again = publish(config, NOW + timedelta(hours=1))
    assert not again.written and again.rendered == 0
    after = {f.name: (f.path.read_bytes(), f.path.stat().st_mtime_ns) for f in again.files}
    assert after == before
    assert not list(config.calendars_dir.glob(".*.tmp"))


def test_edit_bumps_sequence_of_that_item_only(tmp_path: Path, sqlite_url: str) -> None:
    fill(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    publish(config, NOW)
    before = read_icalendar((config.calendars_dir / "all.ics").read_bytes())
    with session_scope(sqlite_url) as s:
        ev = s.get(Event, "vienna-summer")
        assert ev is not None
        ev.start_utc += timedelta(hours=1)
        ev.end_utc += timedelta(hours=1)
        ev.sequence += 1
        ev.modified_at = NOW
    result = publish(config, NOW)
    assert result.rendered == 1
    assert {f.name for f in result.written} == {"all.ics", "untoc-cop.ics"}
    after = read_all(config.calendars_dir / "all.ics")
    uid = "vienna-summer.event@tracker.example.org"
    assert after[uid].sequence == before[uid].sequence + 1
    assert after[uid].start == before[uid].start + timedelta(hours=1)  # type: ignore[operator]
    assert {u: a for u, a in after.items() if u != uid} == {
        u: b for u, b in before.items() if u != uid}


def test_cancel_keeps_uid_with_status_cancelled_then_drops_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    fill(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    with session_scope(sqlite_url) as s:
        ev = s.get(Event, "lagos")
        assert ev is not None
        ev.status, ev.cancelled_at, ev.modified_at = "cancelled", NOW, NOW
        ev.sequence += 1
    publish(config, NOW)
    uid = "lagos.event@tracker.example.org"
    got = read_all(config.calendars_dir / "side-event.ics")
    assert got[uid].status == "CANCELLED" and got[uid].sequence == 1
    later = publish(config, NOW + timedelta(days=60))
    assert uid not in read_all(config.calendars_dir / "side-event.ics")
    assert "side-event.ics" in {f.name for f in later.written}


def test_private_feed_has_members_items_of_followed_series(
    tmp_path: Path, sqlite_url: str
) -> None:
    fill(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    everything = member_feed(config, TOKEN_A, NOW)
    assert everything is not None
    path = tmp_path / "a.ics"
    path.write_bytes(everything)
    got = read_all(path)
    assert "members-briefing.event@tracker.example.org" in got
    assert "members-nomination.deadline@tracker.example.org" in got
    assert not any(u.startswith("private-") for u in got)
    truth = db_expectations(sqlite_url)
    assert all((g.start, g.end) == truth[u] for u, g in got.items())

    csw = member_feed(config, TOKEN_B, NOW)
    assert csw is not None
    path.write_bytes(csw)
    assert set(read_all(path)) == {
        "ny-before.event@tracker.example.org", "ny-after.event@tracker.example.org",
        "csw-statement.deadline@tracker.example.org", "members-csw.event@tracker.example.org"}

    assert member_feed(config, "x" * 32, NOW) is None
    assert member_feed(config, "tokenC_" + "c" * 25, NOW) is None  # inactive member
    assert member_feed(config, "", NOW) is None


def test_private_feed_url_is_under_base_url(tmp_path: Path, sqlite_url: str) -> None:
    config = make_config(tmp_path, sqlite_url)
    m = member("x@example.net", TOKEN_A, [])
    assert feed_url(config.tracker.base_url, m.feed_token) == (
        f"https://tracker.example.org/feeds/{TOKEN_A}.ics")


def test_cache_table_is_filled_and_pruned(tmp_path: Path, sqlite_url: str) -> None:
    """Publishing caches every item members may see (23 public, 3 members-only), never a
    private one, and drops the entry of a deleted item."""
    fill(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    publish(config, NOW)
    with session_scope(sqlite_url) as s:
        uids = set(s.scalars(select(FeedCacheEntry.uid)))
        ev = s.get(Event, "tokyo")
        s.delete(ev)
    public = set(read_all(config.calendars_dir / "all.ics"))
    members = {"members-briefing.event@tracker.example.org",
               "members-csw.event@tracker.example.org",
               "members-nomination.deadline@tracker.example.org"}
    assert len(public) == 23 and uids == public | members
    publish(config, NOW)
    with session_scope(sqlite_url) as s:
        after = set(s.scalars(select(FeedCacheEntry.uid)))
    assert after == uids - {"tokyo.event@tracker.example.org"}


def test_write_feed_is_atomic_and_skips_equal_bytes(tmp_path: Path) -> None:
    path = tmp_path / "cal" / "x.ics"
    assert write_feed(path, b"one") is True
    mtime = path.stat().st_mtime_ns
    assert write_feed(path, b"one") is False and path.stat().st_mtime_ns == mtime
    assert write_feed(path, b"two") is True and path.read_bytes() == b"two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.ics"]


def test_cli_publish_after_cli_edit(cli: Cli, tmp_path: Path) -> None:
    cli.ok("event", "add", "Informal; monthly, meeting", "--start", "2024-10-14 15:00",
           "--end", "16:30", "--tz", "Europe/Vienna", "--series", "informal", "--id", "inf")
    cli.ok("deadline", "add", "Speakers list", "--due", "14 Oct 2024 noon", "--event", "inf",
           "--kind", "speakers-list", "--opens", "2024-09-16 09:00", "--url",
           "https://indico.un.org/x", "--id", "spk")
    out = cli.ok("publish").output
    assert "3 written, 0 unchanged" in out
    again = cli.ok("publish").output
    assert "0 written, 3 unchanged, 0 items rendered anew" in again
    cli.ok("event", "edit", "inf", "--start", "2024-10-14 16:00", "--end", "17:30")
    assert "2 written, 1 unchanged, 1 items rendered anew" in cli.ok("publish").output
    shown = json.loads(cli.ok("event", "show", "inf", "--json").output)
    feed = read_all(tmp_path / "calendars" / "informal.ics")
    got = feed[shown["uid"]]
    assert got.sequence == shown["sequence"] == 1
    assert got.start.isoformat().replace("+00:00", "Z") == shown["start_utc"]  # type: ignore[union-attr]
    out_dir = tmp_path / "elsewhere"
    assert str(out_dir) in cli.ok("publish", "--out", str(out_dir)).output
    assert (out_dir / "all.ics").read_bytes() == (tmp_path / "calendars" / "all.ics").read_bytes()


@pytest.mark.parametrize("args", [("publish", "--help"), ("serve", "--help"),
                                  ("import", "ics", "--help")], ids=["publish", "serve", "import"])
def test_commands_have_help_with_example(cli: Cli, args: tuple[str, ...]) -> None:
    assert "Example:" in cli.ok(*args).output


def test_every_write_to_events_or_deadlines_moves_the_feed_generation(db_url: str) -> None:
    """The triggers of migration 0005 fire on insert, update and delete, on both databases."""
    fill(db_url)

    def gen() -> int:
        with session_scope(db_url) as s:
            value = feedcache.generation(s)
        assert value is not None
        return value

    steps: list[Callable[[Session], object]] = [
        lambda s: s.execute(update(Event).where(Event.id == "tokyo").values(title="T")),
        lambda s: s.execute(update(Deadline).where(Deadline.id == "speakers").values(url="u")),
        lambda s: s.execute(delete(Deadline).where(Deadline.id == "cancelled-fee")),
        lambda s: add_all(s, [timed_event("extra", "Asia/Tokyo", datetime(2025, 1, 1), 30, [])]),
        lambda s: s.execute(delete(Event).where(Event.id == "extra")),
    ]
    before = gen()
    for step in steps:
        with session_scope(db_url) as s:
            step(s)
        after = gen()
        assert after > before, step
        before = after
    with session_scope(db_url) as s:  # members do not change what items show
        s.execute(update(Member).values(name="renamed"))
    assert gen() == before


def test_private_feeds_cache_matches_member_feed_on_both_databases(
    tmp_path: Path, db_url: str
) -> None:
    fill(db_url)
    config = make_config(tmp_path, db_url)
    feeds = PrivateFeeds(FeedSettings.from_config(config))
    for token in (TOKEN_A, TOKEN_B):
        got = private_feed(feeds, config, token, NOW)
        assert got is not None and got.data == member_feed(config, token, NOW)
    rendered = feeds.stats["rendered"]
    with session_scope(db_url) as s:  # the event's title is in its deadlines' descriptions
        ev = s.get(Event, "cop12")
        assert ev is not None
        ev.title, ev.sequence, ev.modified_at = "COP12 (renamed)", 1, NOW
    got = private_feed(feeds, config, TOKEN_A, NOW)
    assert got is not None and got.data == member_feed(config, TOKEN_A, NOW)
    assert b"Event: COP12 (renamed)" in got.data
    assert feeds.stats["rendered"] == rendered + 3  # cop12 and its two deadlines
    assert private_feed(feeds, config, "tokenC_" + "c" * 25, NOW) is None
    assert private_feed(feeds, config, "x" * 32, NOW) is None


def test_calendar_name_with_line_breaks_is_one_line(tmp_path: Path, sqlite_url: str) -> None:
    fill(sqlite_url)
    token = "tokenN_" + "n" * 25
    # A NUL written past the checks: SQLite stores it; PostgreSQL cannot hold one in text.
    nul = "\x00" if sqlite_url.startswith("sqlite") else ""
    with session_scope(sqlite_url) as s:
        add_all(s, [member("n@example.net", token, ["csw"], name=f"Ann\r\nX-Evil: 1\rB\nC{nul}")])
    data = member_feed(make_config(tmp_path, sqlite_url), token, NOW)
    assert data is not None
    lines = data.decode().split("\r\n")
    name = "Ann X-Evil: 1 B C" + (" " if nul else "")
    assert f"NAME:Alliance events and deadlines ({name})" in lines, lines[:8]
    assert not any(line.startswith("X-Evil") for line in lines)
    path = tmp_path / "n.ics"
    path.write_bytes(data)
    assert "members-csw.event@tracker.example.org" in read_all(path)
