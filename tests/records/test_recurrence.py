"""Pure recurrence expansion: wall-clock time kept in the event's zone across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tracker.errors import TrackerError
from tracker.records import recurrence as rec


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)  # type: ignore[misc]


# (zone, weekly rule start (local), the DST change date inside the 4 weeks, or None)
ZONES = [
    ("Europe/Vienna", (2027, 3, 17, 15, 0), date(2027, 3, 28)),
    ("Europe/Vienna", (2027, 10, 13, 15, 0), date(2027, 10, 31)),
    ("America/New_York", (2027, 3, 3, 9, 0), date(2027, 3, 14)),
    ("America/New_York", (2027, 10, 27, 9, 0), date(2027, 11, 7)),
    ("America/Halifax", (2027, 3, 3, 11, 0), date(2027, 3, 14)),
    ("Africa/Lagos", (2027, 3, 17, 15, 0), None),
    ("Asia/Karachi", (2027, 3, 17, 15, 0), None),
    ("Asia/Tokyo", (2027, 3, 17, 15, 0), None),
]


@pytest.mark.parametrize(("tz", "start", "change"), ZONES,
                         ids=[f"{z}-{s[1]}" for z, s, _ in ZONES])
def test_weekly_keeps_the_wall_clock_time(tz: str, start: tuple[int, ...],
                                          change: date | None) -> None:
    first = local(tz, *start)
    found = rec.occurrences("FREQ=WEEKLY;COUNT=4", tz=tz, start_utc=first,
                            end_utc=first + timedelta(minutes=90),
                            window_end=first + timedelta(days=60))
    assert len(found) == 4
    zone = ZoneInfo(tz)
    for n, occ in enumerate(found):
        wall = occ.start_utc.astimezone(zone)
        assert (wall.hour, wall.minute) == (start[3], start[4])
        assert wall.date() == date(*start[:3]) + timedelta(weeks=n)
        assert occ.end_utc - occ.start_utc == timedelta(minutes=90)
    offsets = {o.start_utc.astimezone(zone).utcoffset() for o in found}
    assert len(offsets) == (2 if change else 1)


def test_informal_meeting_15_00_vienna_winter_and_summer() -> None:
    first = local("Europe/Vienna", 2027, 1, 13, 15, 0)
    found = rec.occurrences("FREQ=MONTHLY;BYDAY=2WE", tz="Europe/Vienna", start_utc=first,
                            end_utc=first + timedelta(minutes=90),
                            window_end=datetime(2028, 1, 1, tzinfo=UTC))
    assert len(found) == 12
    by_month = {o.start_utc.month: o.start_utc.hour for o in found}
    assert by_month[1] == by_month[2] == by_month[12] == 14  # CET: 15:00 is 14:00Z
    assert by_month[4] == by_month[7] == by_month[10] == 13  # CEST: 15:00 is 13:00Z


def test_changes_cancel_and_move_and_window() -> None:
    first = local("Europe/Vienna", 2027, 1, 13, 15, 0)
    feb = local("Europe/Vienna", 2027, 2, 10, 15, 0)
    mar = local("Europe/Vienna", 2027, 3, 10, 15, 0)
    moved_to = local("Europe/Vienna", 2027, 3, 11, 10, 0)
    changes = {feb: rec.Change(feb, cancelled=True),
               mar: rec.Change(mar, start_utc=moved_to, end_utc=moved_to + timedelta(hours=1))}
    found = rec.occurrences("FREQ=MONTHLY;BYDAY=2WE;COUNT=4", tz="Europe/Vienna",
                            start_utc=first, end_utc=first + timedelta(minutes=90),
                            changes=changes, window_end=datetime(2028, 1, 1, tzinfo=UTC))
    assert [o.cancelled for o in found] == [False, True, False, False]
    assert found[2].moved and found[2].start_utc == moved_to and found[2].original == mar
    assert found[2].end_utc == moved_to + timedelta(hours=1)
    # A window that holds only the moved-to time still finds it; one after it does not.
    window = rec.occurrences("FREQ=MONTHLY;BYDAY=2WE;COUNT=4", tz="Europe/Vienna",
                             start_utc=first, end_utc=first + timedelta(minutes=90),
                             changes=changes, window_start=mar + timedelta(hours=3),
                             window_end=moved_to + timedelta(minutes=5))
    assert [o.original for o in window] == [mar]


def test_find_occurrence_by_local_date() -> None:
    first = local("Asia/Tokyo", 2027, 1, 6, 8, 0)  # 23:00Z the day before
    original = rec.find_occurrence("FREQ=WEEKLY", tz="Asia/Tokyo", start_utc=first,
                                   end_utc=first + timedelta(hours=1), on=date(2027, 1, 13))
    assert original == local("Asia/Tokyo", 2027, 1, 13, 8, 0)
    assert rec.find_occurrence("FREQ=WEEKLY", tz="Asia/Tokyo", start_utc=first,
                               end_utc=first + timedelta(hours=1), on=date(2027, 1, 14)) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("monthly", "FREQ=MONTHLY"),
    ("Weekly", "FREQ=WEEKLY"),
    ("RRULE:FREQ=MONTHLY;BYDAY=2WE", "FREQ=MONTHLY;BYDAY=2WE"),
    ("FREQ=WEEKLY;UNTIL=20270630T235959", "FREQ=WEEKLY;UNTIL=20270630T215959Z"),
    ("FREQ=WEEKLY;UNTIL=20270630", "FREQ=WEEKLY;UNTIL=20270630T215959Z"),
], ids=["word", "case", "prefix", "local-until", "date-until"])
def test_make_rule_normalises(text: str, expected: str) -> None:
    assert rec.make_rule(text, tz="Europe/Vienna") == expected


def test_make_rule_adds_until_in_utc_and_count() -> None:
    until = local("America/New_York", 2027, 6, 30, 23, 59)
    assert rec.make_rule("weekly", tz="America/New_York", until=until) == (
        "FREQ=WEEKLY;UNTIL=20270701T035900Z")
    assert rec.make_rule("FREQ=DAILY;UNTIL=20270101T000000Z", tz="UTC", count=3) == (
        "FREQ=DAILY;COUNT=3")
    assert rec.make_rule("weekly", tz="UTC", all_day=True, until=date(2027, 6, 30)) == (
        "FREQ=WEEKLY;UNTIL=20270630")


@pytest.mark.parametrize("text", [
    "sometimes", "FREQ=HOURLY", "FREQ=MONTHLY;BYDAY=9WE", "FREQ=WEEKLY;COUNT=2;UNTIL=20270101",
    "FREQ=MONTHLY;BYMONTHDAY=40", "",
], ids=["word", "hourly", "byday-range", "count-and-until", "bymonthday", "empty"])
def test_make_rule_refuses(text: str) -> None:
    with pytest.raises(TrackerError) as caught:
        rec.make_rule(text, tz="Europe/Vienna")
    assert caught.value.field == "repeat"


def test_first_at_or_after_and_last_year() -> None:
    thursday = local("Europe/Vienna", 2027, 1, 14, 15, 0)
    assert rec.first_at_or_after("FREQ=MONTHLY;BYDAY=2WE", tz="Europe/Vienna",
                                 start_utc=thursday) == local("Europe/Vienna", 2027, 2, 10, 15, 0)
    assert rec.last_year("FREQ=YEARLY;COUNT=3", tz="Europe/Vienna", start_utc=thursday) == 2029
    assert rec.last_year("FREQ=YEARLY", tz="Europe/Vienna", start_utc=thursday) == 2037
