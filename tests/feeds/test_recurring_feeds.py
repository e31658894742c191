"""Recurring events through the CLI into feeds that icalendar (recurring-ical-events), the
strict `ical` package and Mozilla's ical.js expand to the same instants, across the March
and October changes (Vienna, New York, Halifax) and in zones without DST."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar

from tests.helpers.cli import Cli
from tests.helpers.feedcheck import Occ, occurrences_all

LO = datetime(2026, 12, 1, tzinfo=UTC)
HI = datetime(2028, 3, 1, tzinfo=UTC)


def at(tz: str, day: date, hour: int, minute: int = 0) -> datetime:
    """The UTC instant of a wall-clock time, computed with zoneinfo alone (not the rule code)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def second_wednesdays(year: int) -> list[date]:
    days = []
    for month in range(1, 13):
        first = date(year, month, 1)
        days.append(first + timedelta(days=(2 - first.weekday()) % 7 + 7))
    return days


def uid_of(cli: Cli, event_id: str) -> str:
    return str(json.loads(cli.ok("event", "show", event_id, "--json").stdout)["uid"])


def build_season(cli: Cli) -> None:
    cli.ok("event", "add", "Informal meeting", "--start", "13 Jan 2027 15:00", "--end", "16:30",
           "--repeat", "FREQ=MONTHLY;BYDAY=2WE", "--until", "2027-12-31", "--series", "informal",
           "--mode", "online", "--id", "informal")
    cli.ok("event", "cancel", "informal", "--on", "2027-02-10")
    cli.ok("event", "edit", "informal", "--on", "2027-03-10", "--start", "31 Mar 2027 15:00")
    cli.ok("event", "edit", "informal", "--on", "2027-11-10", "--start", "16:00")
    cli.ok("event", "add", "CSW parallel", "--start", "1 Mar 2027 09:00", "--end", "10:00",
           "--tz", "America/New_York", "--repeat", "weekly", "--count", "4", "--id", "csw-spring")
    cli.ok("event", "add", "CSW follow-up", "--start", "25 Oct 2027 09:00", "--end", "10:00",
           "--tz", "America/New_York", "--repeat", "weekly", "--count", "3", "--id", "csw-fall")
    cli.ok("event", "add", "Halifax call", "--start", "8 Mar 2027 11:00", "--tz",
           "America/Halifax", "--repeat", "FREQ=WEEKLY;BYDAY=MO", "--count", "3", "--id", "hfx")
    cli.ok("event", "add", "Lagos check-in", "--start", "5 Mar 2027 15:00", "--tz",
           "Africa/Lagos", "--repeat", "monthly", "--count", "3", "--id", "lagos")
    cli.ok("event", "add", "Karachi desk", "--start", "26 Mar 2027 17:00", "--tz",
           "Asia/Karachi", "--repeat", "daily", "--count", "3", "--id", "karachi")
    cli.ok("event", "add", "Tokyo morning", "--start", "30 Oct 2027 08:00", "--tz",
           "Asia/Tokyo", "--repeat", "daily", "--count", "3", "--id", "tokyo")
    cli.ok("event", "add", "Gate duty", "--start", "2027-03-22", "--repeat", "weekly",
           "--count", "3", "--id", "gate")
    cli.ok("event", "cancel", "gate", "--on", "2027-03-29")


def expected(cli: Cli) -> list[Occ]:
    vienna = "Europe/Vienna"
    want = []
    informal = uid_of(cli, "informal")
    for day in second_wednesdays(2027):
        if day == date(2027, 2, 10):
            continue  # cancelled
        start = at(vienna, day, 15)
        if day == date(2027, 3, 10):
            start = at(vienna, date(2027, 3, 31), 15)  # moved across the March change
        if day == date(2027, 11, 10):
            start = at(vienna, day, 16)
        want.append(Occ(informal, start, start + timedelta(minutes=90)))
    ny = "America/New_York"
    for ident, first, n, tz, hour, step, minutes in [
        ("csw-spring", date(2027, 3, 1), 4, ny, 9, 7, 60),
        ("csw-fall", date(2027, 10, 25), 3, ny, 9, 7, 60),
        ("hfx", date(2027, 3, 8), 3, "America/Halifax", 11, 7, 60),
        ("karachi", date(2027, 3, 26), 3, "Asia/Karachi", 17, 1, 60),
        ("tokyo", date(2027, 10, 30), 3, "Asia/Tokyo", 8, 1, 60),
    ]:
        uid = uid_of(cli, ident)
        for k in range(n):
            start = at(tz, first + timedelta(days=step * k), hour)
            want.append(Occ(uid, start, start + timedelta(minutes=minutes)))
    lagos = uid_of(cli, "lagos")
    for month in (3, 4, 5):
        start = at("Africa/Lagos", date(2027, month, 5), 15)
        want.append(Occ(lagos, start, start + timedelta(hours=1)))
    gate = uid_of(cli, "gate")
    for day in (date(2027, 3, 22), date(2027, 4, 5)):
        want.append(Occ(gate, day, day + timedelta(days=1)))
    return sorted(want, key=lambda o: (o.uid, o.start.isoformat()))


def test_recurring_feed_read_alike_by_three_parsers(cli: Cli, tmp_path: Path) -> None:
    build_season(cli)
    out = tmp_path / "cal"
    cli.ok("publish", "--out", str(out))
    got = occurrences_all(out / "all.ics", LO, HI)
    assert got == expected(cli)
    # The informal series feed holds the same meeting; 15:00 Vienna is 14:00Z in winter and
    # 13:00Z in summer (so the UTC hours prove the zone's rules were applied, not a fixed offset).
    informal = occurrences_all(out / "informal.ics", LO, HI)
    hours = {o.start.month: o.start.hour for o in informal if isinstance(o.start, datetime)}
    assert hours[1] == hours[12] == 14 and hours[4] == hours[10] == 13


def test_feed_has_one_master_with_exdate_and_overrides(cli: Cli, tmp_path: Path) -> None:
    build_season(cli)
    out = tmp_path / "cal"
    cli.ok("publish", "--out", str(out))
    cal = icalendar.Calendar.from_ical((out / "informal.ics").read_bytes())
    vevents = [v for v in cal.walk("VEVENT") if str(v["UID"]) == uid_of(cli, "informal")]
    masters = [v for v in vevents if "RECURRENCE-ID" not in v]
    assert len(masters) == 1 and len(vevents) == 3
    master = masters[0]
    assert master["RRULE"].to_ical() == b"FREQ=MONTHLY;UNTIL=20271231T225959Z;BYDAY=2WE"
    exdates = master.get("EXDATE")
    exdates = exdates if isinstance(exdates, list) else [exdates]
    assert [d.dts[0].dt for d in exdates] == [
        datetime(2027, 2, 10, 15, tzinfo=ZoneInfo("Europe/Vienna"))]
    assert master["DTSTART"].params["TZID"] == "Europe/Vienna"
    ids = sorted(v["RECURRENCE-ID"].dt.astimezone(UTC) for v in vevents if v is not master)
    assert ids == [at("Europe/Vienna", date(2027, 3, 10), 15),
                   at("Europe/Vienna", date(2027, 11, 10), 15)]


def test_lists_agree_with_the_feed(cli: Cli, tmp_path: Path) -> None:
    build_season(cli)
    out = tmp_path / "cal"
    cli.ok("publish", "--out", str(out))
    listed = json.loads(cli.ok("event", "list", "--json").stdout)
    shown = sorted(
        (row["uid"], row["start_utc"]) for row in listed
        if row["status"] != "cancelled" and not row["all_day"])
    feed = sorted((o.uid, o.start.strftime("%Y-%m-%dT%H:%M:%SZ"))
                  for o in occurrences_all(out / "all.ics", LO, HI)
                  if isinstance(o.start, datetime))
    assert shown == feed
    cancelled = [(r["id"], r["occurrence"]) for r in listed if r["status"] == "cancelled"]
    assert cancelled == [("informal", "2027-02-10"), ("gate", "2027-03-29")]
    moved = [r for r in listed if r.get("moved")]
    assert [(r["occurrence"], r["start"]) for r in moved] == [
        ("2027-03-10", "2027-03-31T15:00:00+02:00"), ("2027-11-10", "2027-11-10T16:00:00+01:00")]


def test_editing_the_rule_republishes_and_drops_orphaned_changes(cli: Cli, tmp_path: Path) -> None:
    build_season(cli)
    out = tmp_path / "cal"
    cli.ok("publish", "--out", str(out))
    before = json.loads(cli.ok("event", "show", "informal", "--json").stdout)
    cli.ok("event", "edit", "informal", "--start", "13 Jan 2027 14:00")  # an hour earlier
    after = json.loads(cli.ok("event", "show", "informal", "--json").stdout)
    assert after["sequence"] > before["sequence"]
    assert before["changes"] and after["changes"] == []  # 15:00 originals no longer exist
    cli.ok("publish", "--out", str(out))
    got = [o for o in occurrences_all(out / "informal.ics", LO, HI)]
    assert len(got) == 12
    assert all(o.start.astimezone(ZoneInfo("Europe/Vienna")).hour == 14  # type: ignore[union-attr]
               for o in got)


def test_private_feed_cache_shows_recurring_changes_on_both_databases(
    tmp_path: Path, db_url: str
) -> None:
    """`tracker serve`'s column-only cache and the plain ORM rendering agree on a recurring
    event, also after one occurrence is cancelled (a change in another table)."""
    from tests.helpers.feed_data import NOW, add_all, member
    from tests.helpers.feeds import make_config, member_feed, private_feed
    from tracker.db.engine import session_scope
    from tracker.feeds.private import PrivateFeeds
    from tracker.feeds.render import FeedSettings
    from tracker.records import events as ev

    token = "tokenR_" + "r" * 25
    with session_scope(db_url) as s:
        ev.add_event(s, ev.EventInput(title="Informal", start="13 Jan 2027 15:00", end="16:30",
                                      repeat="FREQ=MONTHLY;BYDAY=2WE", count=6,
                                      visibility="members"),
                     event_id="informal", default_tz="Europe/Vienna", host="t.example.org",
                     now=NOW)
        add_all(s, [member("r@example.net", token, [])])
    config = make_config(tmp_path, db_url)
    feeds = PrivateFeeds(FeedSettings.from_config(config))
    first = private_feed(feeds, config, token, NOW)
    assert first is not None and first.data == member_feed(config, token, NOW)
    assert b"RRULE:FREQ=MONTHLY;COUNT=6;BYDAY=2WE" in first.data
    with session_scope(db_url) as s:
        ev.cancel_occurrence(s, "informal", "2027-02-10", now=NOW)
        ev.move_occurrence(s, "informal", "2027-04-14", "16:00", None, now=NOW)
    second = private_feed(feeds, config, token, NOW)
    assert second is not None and second.data == member_feed(config, token, NOW)
    assert b"EXDATE;TZID=Europe/Vienna:20270210T150000" in second.data
    assert b"RECURRENCE-ID;TZID=Europe/Vienna:20270414T150000" in second.data
    path = tmp_path / "member.ics"
    path.write_bytes(second.data)
    starts = [o.start for o in occurrences_all(path, LO, HI)]
    assert len(starts) == 5 and at("Europe/Vienna", date(2027, 4, 14), 16) in starts


def test_edit_rule_end_and_zone_of_a_recurring_event(cli: Cli) -> None:
    cli.ok("event", "add", "Call", "--start", "6 Jan 2027 09:00", "--repeat", "weekly",
           "--count", "10", "--id", "call")
    cli.ok("event", "edit", "call", "--until", "2027-01-20")
    shown = json.loads(cli.ok("event", "show", "call", "--json").stdout)
    assert shown["repeat"] == "FREQ=WEEKLY;UNTIL=20270120T225959Z"
    cli.ok("event", "edit", "call", "--tz", "America/New_York")  # same wall clock, new zone
    rows = json.loads(cli.ok("event", "list", "--json").stdout)
    assert [r["start_utc"] for r in rows] == [
        "2027-01-06T14:00:00Z", "2027-01-13T14:00:00Z", "2027-01-20T14:00:00Z"]
    assert {r["repeat"] for r in rows} == {"FREQ=WEEKLY;UNTIL=20270120T225959Z"}
    cli.ok("event", "edit", "call", "--repeat", "none")
    rows = json.loads(cli.ok("event", "list", "--json").stdout)
    assert len(rows) == 1 and rows[0]["repeat"] is None and "occurrence" not in rows[0]


def test_one_occurrence_cancelled_and_put_back_with_status(cli: Cli, tmp_path: Path) -> None:
    cli.ok("event", "add", "Call", "--start", "6 Jan 2027 09:00", "--repeat", "weekly",
           "--count", "3", "--id", "call")
    out = tmp_path / "cal"
    cli.ok("publish", "--out", str(out))
    before = (out / "all.ics").read_bytes()
    cli.ok("event", "edit", "call", "--on", "2027-01-13", "--status", "cancelled")
    cli.ok("event", "edit", "call", "--on", "2027-01-20", "--start", "11:00")
    cli.ok("publish", "--out", str(out))
    assert len(occurrences_all(out / "all.ics", LO, HI)) == 2
    for day in ("2027-01-13", "2027-01-20"):
        assert "restored" in cli.ok("event", "edit", "call", "--on", day,
                                    "--status", "confirmed").stdout
    cli.ok("publish", "--out", str(out))
    again = occurrences_all(out / "all.ics", LO, HI)
    assert [o.start for o in again] == [at("Europe/Vienna", date(2027, 1, d), 9)
                                        for d in (6, 13, 20)]
    assert b"EXDATE" not in (out / "all.ics").read_bytes() and b"EXDATE" not in before
    result = cli("event", "edit", "call", "--on", "2027-01-13", "--status", "confirmed")
    assert result.exit_code == 2 and "is not changed" in result.stderr
    result = cli("event", "edit", "call", "--on", "2027-01-13", "--status", "tentative")
    assert result.exit_code == 2 and result.stderr.startswith("error: --status: ")
