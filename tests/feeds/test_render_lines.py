"""`render_vevent` (icalendar's lines, remembered by value) writes exactly what icalendar's own
components write (`render_vevent_plain`), for every kind of item, whatever was rendered before."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.feed_data import CREATED, TRICKY, matrix
from tracker.feeds.render import (
    FeedItem,
    item_from_deadline,
    item_from_event,
    render_vevent,
    render_vevent_plain,
)

VIENNA = ZoneInfo("Europe/Vienna")


def event(**values: object) -> FeedItem:
    start = datetime(2027, 1, 13, 14, 0, tzinfo=UTC)
    fields: dict[str, object] = dict(
        uid="x.event@tracker.example.org", kind="event", title="Informal meeting",
        tz="Europe/Vienna", start_utc=start, end_utc=start + timedelta(minutes=90),
        all_day=False, start_date=None, end_date=None, location="Online", url="",
        description="", status="CONFIRMED", visibility="public", series=("informal",),
        sequence=3, created_at=CREATED, modified_at=CREATED, cancelled_at=None,
    )
    fields.update(values)
    return FeedItem(**fields)  # type: ignore[arg-type]


def utc(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[misc]


RECURRING = [
    event(uid="monthly", rrule="FREQ=MONTHLY;BYDAY=2WE;UNTIL=20271231T225959Z",
          rdates=(utc("Europe/Vienna", 2027, 3, 31, 15),),
          exdates=(utc("Europe/Vienna", 2027, 2, 10, 15), utc("Europe/Vienna", 2027, 4, 14, 15)),
          overrides=((utc("Europe/Vienna", 2027, 11, 10, 15), utc("Europe/Vienna", 2027, 11, 10, 16),
                      utc("Europe/Vienna", 2027, 11, 10, 17, 30)),),
          last_year=2027),
    event(uid="all-day-weekly", all_day=True, start_date=date(2027, 3, 22),
          end_date=date(2027, 3, 23), start_utc=utc("Europe/Vienna", 2027, 3, 22),
          end_utc=utc("Europe/Vienna", 2027, 3, 23), rrule="FREQ=WEEKLY;COUNT=3",
          exdates=(utc("Europe/Vienna", 2027, 3, 29),), last_year=2027,
          extra=(("X-TRACKER-TZ", "Europe/Vienna"),)),
    # a series starting inside the repeated hour keeps its TZID
    event(uid="fallback-series", start_utc=datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
          end_utc=datetime(2024, 10, 27, 1, 30, tzinfo=UTC), rrule="FREQ=DAILY;COUNT=2",
          last_year=2024),
]


def all_items() -> list[FeedItem]:
    events, deadlines = matrix()
    return ([item_from_event(e) for e in events] + [item_from_deadline(d) for d in deadlines]
            + RECURRING)


def test_every_matrix_item_renders_as_icalendar_writes_it() -> None:
    items = all_items()
    assert any(i.is_deadline for i in items) and any(i.all_day for i in items)
    for item in items + items:  # the second round comes from remembered lines
        assert render_vevent(item) == render_vevent_plain(item), item.uid


# One instant (inside Vienna's repeated hour, so written in UTC there) in other zones, where it
# keeps its TZID: remembered lines must keep them apart although the datetimes are equal.
SAME_INSTANT = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["Europe/Vienna", "America/New_York", "Asia/Tokyo", "UTC"])
def test_equal_instants_in_other_zones_are_not_confused(zone: str) -> None:
    first = event(uid="vienna", start_utc=SAME_INSTANT, end_utc=SAME_INSTANT + timedelta(hours=3))
    other = dataclasses.replace(first, uid="other", tz=zone)
    for item in (first, other, first):
        assert render_vevent(item) == render_vevent_plain(item), (zone, item.uid)
    starts = {i.uid: next(line for line in render_vevent(i).split("\r\n")
                          if line.startswith("DTSTART")) for i in (first, other)}
    assert starts["vienna"] == "DTSTART:20241027T003000Z"  # the repeated hour: in UTC
    assert (starts["other"] == starts["vienna"]) == (zone in ("Europe/Vienna", "UTC"))


ZONES = ["Europe/Vienna", "America/New_York", "America/Halifax", "Asia/Tokyo", "Africa/Lagos",
         "Asia/Karachi", "America/Mexico_City", "UTC", "Europe/Dublin"]
text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r") | st.just("\n")
    | st.sampled_from([";", ",", "\\", ":", '"', "é", "東", "✓"]),
    max_size=120,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    title=text, description=text, location=text,
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31),
                       timezones=st.just(UTC)),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 3),
    kind=st.sampled_from(["event", "registration", "speakers-list"]),
    status=st.sampled_from(["CONFIRMED", "TENTATIVE", "CANCELLED"]),
    series=st.lists(st.sampled_from(["ccpcj", "untoc-cop", "informal", "side-event"]),
                    max_size=3, unique=True),
    sequence=st.integers(min_value=0, max_value=10_000),
    all_day=st.booleans(),
)
def test_any_item_renders_as_icalendar_writes_it(
    title: str, description: str, location: str, zone: str, start: datetime, minutes: int,
    kind: str, status: str, series: list[str], sequence: int, all_day: bool,
) -> None:
    end = start + timedelta(minutes=minutes)
    days: dict[str, object] = {}
    if all_day and kind == "event":
        first = start.astimezone(ZoneInfo(zone)).date()
        days = dict(all_day=True, start_date=first, end_date=first + timedelta(days=1 + minutes // 1440))
    item = event(title=title or TRICKY, description=description, location=location, tz=zone,
                 start_utc=start, end_utc=end, kind=kind, status=status, series=tuple(series),
                 sequence=sequence, url="https://indico.un.org/event/1?a=b,c;d", **days)
    assert render_vevent(item) == render_vevent_plain(item)
    assert render_vevent(item) == render_vevent_plain(item)  # remembered


def test_remembered_lines_stay_within_their_bound() -> None:
    """Long unique descriptions must not grow a scheduler's memory without end."""
    from icalendar import Event as VEvent

    from tracker.feeds.render import _encode_line, _Lines

    lines = _Lines(max_chars=2_000)
    for i in range(200):
        text = f"Description {i}: " + "agenda, documents; " * 20
        assert lines.line(VEvent, "DESCRIPTION", text) == _encode_line(VEvent, "DESCRIPTION", text)
        assert lines.chars <= 2_000
        assert sum(len(t) for t in lines.texts.values()) == lines.chars
    assert lines.texts  # still remembering the latest
