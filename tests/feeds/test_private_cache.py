"""Members' private feeds from the cache publishing fills: nothing rendered after a start when
nothing changed, never a stale entry served when something did, no write from a server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from tests.helpers.feed_data import NOW, add_all, member
from tests.helpers.feedcheck import read_all
from tests.helpers.feeds import (
    TOKEN_A,
    TOKEN_B,
    fill,
    make_config,
    member_feed,
    private_feed,
    publish,
)
from tracker.config import Config
from tracker.db.engine import session_scope
from tracker.feeds import cache as feedcache
from tracker.feeds import rows
from tracker.feeds.cache import FeedCacheEntry
from tracker.feeds.private import PrivateFeeds
from tracker.feeds.render import FeedSettings
from tracker.records import events as ev
from tracker.records.models import Deadline, Event

TOKEN_R = "tokenR_" + "r" * 25  # follows "informal" only: the recurring event's series
LATER = NOW + timedelta(minutes=5)
MEMBERS_ITEMS = {"members-briefing.event@tracker.example.org",
                 "members-csw.event@tracker.example.org",
                 "members-nomination.deadline@tracker.example.org",
                 "informal.event@tracker.example.org"}


def fill_with_recurring(db_url: str) -> None:
    """The feed matrix, plus a members-only monthly meeting and a member following it."""
    fill(db_url)
    with session_scope(db_url) as s:
        ev.add_event(s, ev.EventInput(title="Informal", start="13 Jan 2027 15:00", end="16:30",
                                      repeat="FREQ=MONTHLY;BYDAY=2WE", count=6,
                                      series=["informal"], visibility="members"),
                     event_id="informal", default_tz="Europe/Vienna", host="tracker.example.org",
                     now=NOW)
        add_all(s, [member("r@example.net", TOKEN_R, ["informal"])])


def cache_rows(db_url: str) -> list[tuple[object, ...]]:
    with session_scope(db_url) as s:
        return [tuple(r) for r in s.execute(select(*FeedCacheEntry.__table__.columns)
                                            .order_by(FeedCacheEntry.uid))]


def served(feeds: PrivateFeeds, config: Config, token: str) -> bytes:
    got = private_feed(feeds, config, token, NOW)
    assert got is not None
    return got.data


def assert_every_feed_equals_the_reference(feeds: PrivateFeeds, config: Config) -> None:
    for token in (TOKEN_A, TOKEN_B, TOKEN_R):
        assert served(feeds, config, token) == member_feed(config, token, NOW), token


def test_a_server_started_after_publish_renders_nothing(tmp_path: Path, db_url: str) -> None:
    fill_with_recurring(db_url)
    config = make_config(tmp_path, db_url)
    publish(config, NOW)
    with session_scope(db_url) as s:
        cached = set(s.scalars(select(FeedCacheEntry.uid)))
    assert cached >= MEMBERS_ITEMS and not any(u.startswith("private-") for u in cached)
    feeds = PrivateFeeds(FeedSettings.from_config(config))
    assert_every_feed_equals_the_reference(feeds, config)
    assert feeds.stats["rendered"] == 0 and feeds.stats["reloads"] == 1
    assert feeds.stats["from_publish"] == 1  # nothing changed since: the table as it is


def test_a_server_on_an_unpublished_database_renders_every_item(tmp_path: Path,
                                                                db_url: str) -> None:
    fill_with_recurring(db_url)
    config = make_config(tmp_path, db_url)
    feeds = PrivateFeeds(FeedSettings.from_config(config))
    assert_every_feed_equals_the_reference(feeds, config)
    with session_scope(db_url) as s:
        shown = len(rows.item_rows(s, rows.VISIBLE_TO_MEMBERS))
    assert feeds.stats["rendered"] == shown  # 23 public + 4 members-only
    assert cache_rows(db_url) == []  # a server never writes the cache


def _edit_title(s: Session) -> None:
    ev.edit_event(s, "ny-before", ev.EventInput(title="CSW side event, moved"), now=LATER)


def _cancel(s: Session) -> None:
    ev.cancel_event(s, "members-csw", now=LATER)


def _series(s: Session) -> None:  # reaches COP12's two deadlines and the csw member's feed
    ev.edit_event(s, "cop12", ev.EventInput(series=["untoc-cop", "csw"]), now=LATER)


def _members_to_public(s: Session) -> None:
    ev.edit_event(s, "members-csw", ev.EventInput(visibility="public"), now=LATER)


def _public_to_members(s: Session) -> None:
    ev.edit_event(s, "ny-after", ev.EventInput(visibility="members"), now=LATER)


def _occurrence(s: Session) -> None:
    ev.move_occurrence(s, "informal", "2027-04-14", "16:00", None, now=LATER)


def _occurrence_row_only(s: Session) -> None:
    """A changed occurrence written by hand: the event's own row stays as it was."""
    ev.cancel_occurrence(s, "informal", "2027-02-10", now=LATER)
    s.flush()
    s.execute(update(Event).where(Event.id == "informal")
              .values(sequence=0, modified_at=NOW))


def _by_hand(s: Session) -> None:
    """A title changed by hand: no SEQUENCE or modification time moves."""
    s.execute(update(Deadline).where(Deadline.id == "csw-statement").values(title="By hand"))


def _delete(s: Session) -> None:
    ev.delete_event(s, "members-briefing")


def _members_to_private(s: Session) -> None:
    ev.edit_event(s, "members-csw", ev.EventInput(visibility="private"), now=LATER)


# (change, UIDs a server must render itself afterwards)
CHANGES: dict[str, tuple[Callable[[Session], object], set[str]]] = {
    "edit": (_edit_title, {"ny-before.event"}),
    "cancel": (_cancel, {"members-csw.event"}),
    "series": (_series, {"cop12.event", "speakers.deadline", "registration.deadline"}),
    "members-to-public": (_members_to_public, {"members-csw.event"}),
    "public-to-members": (_public_to_members, {"ny-after.event"}),
    "occurrence": (_occurrence, {"informal.event"}),
    "occurrence-by-hand": (_occurrence_row_only, {"informal.event"}),
    "title-by-hand": (_by_hand, {"csw-statement.deadline"}),
    "delete": (_delete, set()),
    "members-to-private": (_members_to_private, set()),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_change_after_publish_is_rendered_by_the_server_never_served_stale(
    tmp_path: Path, db_url: str, name: str
) -> None:
    change, changed = CHANGES[name]
    fill_with_recurring(db_url)
    config = make_config(tmp_path, db_url)
    publish(config, NOW)
    running = PrivateFeeds(FeedSettings.from_config(config))  # loaded before the change
    assert_every_feed_equals_the_reference(running, config)
    before = cache_rows(db_url)
    with session_scope(db_url) as s:
        change(s)
    started = PrivateFeeds(FeedSettings.from_config(config))  # started after it
    for feeds in (running, started):
        assert_every_feed_equals_the_reference(feeds, config)
        assert feeds.stats["rendered"] == len(changed)
    assert started.stats["from_publish"] == 0  # the generation moved since the publish
    assert cache_rows(db_url) == before  # the servers only read the cache
    result = publish(config, NOW)  # publishing refreshes the changed entries
    assert result.rendered == len(changed)
    again = PrivateFeeds(FeedSettings.from_config(config))
    assert_every_feed_equals_the_reference(again, config)
    assert again.stats["rendered"] == 0 and again.stats["from_publish"] == 1


def test_changed_rows_are_found_by_key_not_by_the_rendered_count(tmp_path: Path,
                                                                  db_url: str) -> None:
    """The served bytes show the change itself (not only that something was re-rendered)."""
    fill_with_recurring(db_url)
    config = make_config(tmp_path, db_url)
    publish(config, NOW)
    with session_scope(db_url) as s:
        _by_hand(s)
        _occurrence_row_only(s)
    feeds = PrivateFeeds(FeedSettings.from_config(config))
    body = served(feeds, config, TOKEN_A)
    assert b"SUMMARY:By hand" in body
    assert b"EXDATE;TZID=Europe/Vienna:20270210T150000" in served(feeds, config, TOKEN_R)


def test_a_new_render_version_makes_every_entry_stale(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries rendered by another version of the renderer are never used."""
    fill_with_recurring(db_url)
    config = make_config(tmp_path, db_url)
    publish(config, NOW)
    for module in (rows, feedcache):
        monkeypatch.setattr(module, "RENDER_VERSION", "next")
    feeds = PrivateFeeds(FeedSettings.from_config(config))
    assert_every_feed_equals_the_reference(feeds, config)
    with session_scope(db_url) as s:
        assert feeds.stats["rendered"] == len(rows.item_rows(s, rows.VISIBLE_TO_MEMBERS))


def test_public_feeds_never_show_members_items_the_cache_holds(tmp_path: Path,
                                                               db_url: str) -> None:
    fill_with_recurring(db_url)
    config = make_config(tmp_path, db_url)
    out = config.calendars_dir

    def public_uids() -> set[str]:
        return {uid for f in out.glob("*.ics") for uid in read_all(f)}

    publish(config, NOW)
    with session_scope(db_url) as s:
        cached = set(s.scalars(select(FeedCacheEntry.uid)))
    assert cached >= MEMBERS_ITEMS
    assert not public_uids() & MEMBERS_ITEMS
    assert not any(u.startswith("private-") for u in public_uids())
    assert all(b"CLASS:CONFIDENTIAL" not in f.read_bytes() for f in out.glob("*.ics"))

    with session_scope(db_url) as s:
        _members_to_public(s)
        _public_to_members(s)
    publish(config, NOW)
    all_ics = read_all(out / "all.ics")
    assert "members-csw.event@tracker.example.org" in all_ics
    assert "ny-after.event@tracker.example.org" not in public_uids()
    assert b"CLASS:CONFIDENTIAL" not in (out / "csw.ics").read_bytes()


@pytest.mark.postgres
def test_row_keys_do_not_depend_on_the_session_time_zone(pg_url: str) -> None:
    """A scheduler and a server whose PostgreSQL sessions have another TimeZone (PGTZ, the
    role's or the database's setting) must compute the same keys, or every server start
    renders every item."""
    fill_with_recurring(pg_url)
    with session_scope(pg_url) as s:
        _occurrence(s)
    keys: dict[str, dict[str, str]] = {}
    for zone in ("UTC", "America/Halifax", "Asia/Karachi"):
        with session_scope(pg_url) as s:
            s.execute(text(f"SET TIME ZONE '{zone}'"))
            keys[zone] = feedcache.keys(s)
    assert len(keys["UTC"]) >= len(MEMBERS_ITEMS)
    assert keys["America/Halifax"] == keys["UTC"] == keys["Asia/Karachi"]
