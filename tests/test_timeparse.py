"""WHEN / zone / OFFSETS parsing, table-driven across DST and zones without DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker import timeparse as tp
from tracker.errors import TrackerError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


TIMED = [
    # text, zone, expected UTC instant
    ("2024-10-14T12:00", "Europe/Vienna", utc(2024, 10, 14, 10, 0)),  # CEST, +2
    ("2024-10-14 12:00", "Europe/Vienna", utc(2024, 10, 14, 10, 0)),
    ("14/10/2024 12:00", "Europe/Vienna", utc(2024, 10, 14, 10, 0)),
    ("14.10.2024 12:00", "Europe/Vienna", utc(2024, 10, 14, 10, 0)),
    ("14 Oct 2024 12:00", "Europe/Vienna", utc(2024, 10, 14, 10, 0)),
    ("14 October 2024 noon", "Europe/Vienna", utc(2024, 10, 14, 10, 0)),
    ("Mon 14 Oct 2024 12:00", "Europe/Vienna", utc(2024, 10, 14, 10, 0)),
    ("noon 14 Oct 2024", "Europe/Vienna", utc(2024, 10, 14, 10, 0)),
    ("2 Apr 2024 noon", "Europe/Vienna", utc(2024, 4, 2, 10, 0)),
    ("14 Jan 2025 12:00", "Europe/Vienna", utc(2025, 1, 14, 11, 0)),  # CET, +1
    ("30 Mar 2025 01:59", "Europe/Vienna", utc(2025, 3, 30, 0, 59)),  # last minute of CET
    ("30 Mar 2025 03:00", "Europe/Vienna", utc(2025, 3, 30, 1, 0)),  # first of CEST
    ("27 Oct 2024 02:30", "Europe/Vienna", utc(2024, 10, 27, 0, 30)),  # ambiguous: first (CEST)
    ("4 Oct 2024 midnight", "Europe/Vienna", utc(2024, 10, 4, 22, 0)),  # end of 4 Oct
    ("2024-10-14T12:00+02:00", "America/New_York", utc(2024, 10, 14, 10, 0)),  # offset kept
    ("2024-10-14T10:00Z", "Asia/Tokyo", utc(2024, 10, 14, 10, 0)),
    ("14 Oct 2024 06:00", "America/New_York", utc(2024, 10, 14, 10, 0)),  # EDT, -4
    ("10 Mar 2024 01:59", "America/New_York", utc(2024, 3, 10, 6, 59)),  # EST
    ("10 Mar 2024 03:00", "America/New_York", utc(2024, 3, 10, 7, 0)),  # EDT
    ("3 Nov 2024 01:30", "America/New_York", utc(2024, 11, 3, 5, 30)),  # ambiguous: EDT first
    ("14 Oct 2024 07:00", "America/Halifax", utc(2024, 10, 14, 10, 0)),  # ADT, -3
    ("14 Jan 2025 08:00", "America/Halifax", utc(2025, 1, 14, 12, 0)),  # AST, -4
    ("14 Oct 2024 11:00", "Africa/Lagos", utc(2024, 10, 14, 10, 0)),  # WAT, +1 all year
    ("14 Jan 2025 11:00", "Africa/Lagos", utc(2025, 1, 14, 10, 0)),
    ("14 Oct 2024 15:00", "Asia/Karachi", utc(2024, 10, 14, 10, 0)),  # PKT, +5 all year
    ("14 Jan 2025 3pm", "Asia/Karachi", utc(2025, 1, 14, 10, 0)),
    ("7 Mar 2021 19:00", "Asia/Tokyo", utc(2021, 3, 7, 10, 0)),  # Kyoto Congress, JST +9
    ("October 14, 2024 3:30 pm", "Europe/Vienna", utc(2024, 10, 14, 13, 30)),
]


@pytest.mark.parametrize("text,zone,expected", TIMED, ids=[f"{t}|{z}" for t, z, _ in TIMED])
def test_timed_values(text: str, zone: str, expected: datetime) -> None:
    when = tp.parse_when(text, zone)
    assert when.utc == expected
    assert when.tz == zone
    assert when.utc.tzinfo is UTC


DATES = [
    ("2024-10-14", date(2024, 10, 14)),
    ("14/10/2024", date(2024, 10, 14)),
    ("14 Oct 2024", date(2024, 10, 14)),
    ("Fri 4 October 2024", date(2024, 10, 4)),
    ("29/02/2024", date(2024, 2, 29)),
]


@pytest.mark.parametrize("text,expected", DATES, ids=[t for t, _ in DATES])
def test_dates(text: str, expected: date) -> None:
    when = tp.parse_when(text, "Europe/Vienna")
    assert when.is_date and when.day == expected and when.utc is None


BAD = [
    ("2024-03-31 02:30", "Europe/Vienna", "does not exist in Europe/Vienna"),  # spring gap
    ("10 Mar 2024 02:30", "America/New_York", "does not exist in America/New_York"),
    ("10 Mar 2024 02:15", "America/Halifax", "does not exist"),
    ("31/02/2024", "Europe/Vienna", "not a real date"),
    ("29/02/2023", "Europe/Vienna", "not a real date"),
    ("2024-13-01", "Europe/Vienna", "not a real date"),
    ("Fri 14 Oct 2024", "Europe/Vienna", "is a Monday, not a Friday"),
    ("noon", "Europe/Vienna", "needs a date"),
    ("14 Oct 2024 25:00", "Europe/Vienna", "not a time"),
    ("14 Oct 2024 12:00 noon", "Europe/Vienna", "both a time and 'noon'"),
    ("14 Octember 2024", "Europe/Vienna", "not a month name"),
    ("next tuesday", "Europe/Vienna", "not a date or time I can read"),
    ("", "Europe/Vienna", "is empty"),
]


@pytest.mark.parametrize("text,zone,message", BAD, ids=[f"{t}|{z}" for t, z, _ in BAD])
def test_bad_values(text: str, zone: str, message: str) -> None:
    with pytest.raises(TrackerError) as info:
        tp.parse_when(text, zone, "--due")
    assert info.value.field == "--due"
    assert message in info.value.message


@pytest.mark.parametrize("name", ["Europe/Vienna", "Africa/Lagos", "Asia/Karachi", "UTC",
                                  "America/Mexico_City"])
def test_known_zones(name: str) -> None:
    assert tp.parse_zone(name).key == name


@pytest.mark.parametrize("name,message", [
    ("Mars/Olympus", "unknown time zone"),
    ("GMT+1", "fixed offset"),
    ("Etc/GMT-2", "fixed offset"),
    ("UTC+05:00", "fixed offset"),
    ("../../etc/passwd", "unknown time zone"),
    ("", "unknown time zone"),
    ("europe/vienna", "did you mean Europe/Vienna"),
], ids=["unknown", "gmt+1", "etc-gmt", "utc-offset", "traversal", "empty", "case"])
def test_bad_zones(name: str, message: str) -> None:
    with pytest.raises(TrackerError) as info:
        tp.parse_zone(name, "--tz")
    assert info.value.field == "--tz" and message in info.value.message


def test_end_of_day_and_start_of_day_follow_the_zone() -> None:
    assert tp.end_of_day(date(2024, 10, 4), "Europe/Vienna") == utc(2024, 10, 4, 21, 59)
    assert tp.end_of_day(date(2024, 12, 4), "Europe/Vienna") == utc(2024, 12, 4, 22, 59)
    assert tp.start_of_day(date(2024, 10, 4), "Asia/Karachi") == utc(2024, 10, 3, 19, 0)
    # the day Vienna springs forward has 23 hours
    assert (tp.start_of_day(date(2025, 3, 31), "Europe/Vienna")
            - tp.start_of_day(date(2025, 3, 30), "Europe/Vienna")) == timedelta(hours=23)


def test_iso_output_keeps_own_offset() -> None:
    assert tp.iso_local(utc(2024, 10, 14, 10), "Europe/Vienna") == "2024-10-14T12:00:00+02:00"
    assert tp.iso_local(utc(2025, 1, 14, 10), "Europe/Vienna") == "2025-01-14T11:00:00+01:00"
    assert tp.iso_utc(utc(2024, 10, 14, 10)) == "2024-10-14T10:00:00Z"


OFFSETS = [
    ("14d,3d,1d,2h,30m", ["14d", "3d", "1d", "2h", "30m"]),
    ("1d, 14d ,3d", ["14d", "3d", "1d"]),  # sorted, spaces allowed
    ("1w,7d,2h", ["1w", "2h"]),  # the same span once
    ("90m", ["90m"]),
]


@pytest.mark.parametrize("text,expected", OFFSETS, ids=[t for t, _ in OFFSETS])
def test_offsets(text: str, expected: list[str]) -> None:
    parsed = tp.parse_offsets(text)
    assert [str(o) for o in parsed] == expected
    assert tp.parse_offsets(tp.format_offsets(parsed)) == parsed


def test_offset_units() -> None:
    day, hours = tp.parse_offsets("3d,2h")
    assert day.is_days and day.days == 3 and day.delta == timedelta(days=3)
    assert not hours.is_days and hours.delta == timedelta(hours=2)


@pytest.mark.parametrize("text", ["", "14", "3x", "0d", "-1d", "2 days", "400d"])
def test_bad_offsets(text: str) -> None:
    with pytest.raises(TrackerError) as info:
        tp.parse_offsets(text, "--remind")
    assert info.value.field == "--remind"


def test_time_of_day() -> None:
    assert tp.parse_time_of_day("16:30").hour == 16
    assert tp.parse_time_of_day("4:30 pm").hour == 16
    assert tp.parse_time_of_day("noon").hour == 12
    assert tp.parse_time_of_day("2024-10-14") is None


ZONES = ["Europe/Vienna", "America/New_York", "America/Halifax", "Africa/Lagos", "Asia/Karachi",
         "Asia/Tokyo", "America/Mexico_City", "Australia/Lord_Howe"]
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(second=0, microsecond=0))


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(ZONES))
def test_round_trip_with_offset(instant: datetime, zone: str) -> None:
    text = tp.iso_local(instant, zone)
    assert tp.parse_when(text, zone).utc == instant


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(ZONES), st.sampled_from(["iso", "eu", "named"]))
def test_round_trip_wall_clock(instant: datetime, zone: str, form: str) -> None:
    """Wall-clock text in its zone reads back to the same instant, except the second of
    two repeated hours, which by design reads as the first."""
    local = instant.astimezone(ZoneInfo(zone))
    text = {"iso": f"{local:%Y-%m-%d %H:%M}", "eu": f"{local:%d/%m/%Y %H:%M}",
            "named": f"{local:%a %d %b %Y %H:%M}"}[form]
    parsed = tp.parse_when(text, zone).utc
    if local.fold == 1:
        assert parsed is not None and parsed < instant
        assert parsed.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == local.replace(
            tzinfo=None, fold=0)
    else:
        assert parsed == instant


# --- words people type (issue 12): ISO dates with words, a leading "by", zone typos ---------

SAME_AS_WORDS = [
    # the secretary's way, the way that already worked
    ("2025-05-09 noon", "9 May 2025 noon"),
    ("2025-05-09 9am", "9 May 2025 9am"),
    ("2025-05-09 at 3 pm", "9 May 2025 3pm"),
    ("2025-05-09 midnight", "9 May 2025 midnight"),
    ("by midnight 9 May 2025", "9 May 2025 midnight"),
    ("by 9 May 2025 12:00", "9 May 2025 12:00"),
    ("By 2025-05-09 noon", "9 May 2025 noon"),
    ("due by 14 Oct 2024 noon", "14 Oct 2024 noon"),
    ("by 9 May 2025", "9 May 2025"),
    ("by 2025-05-09", "2025-05-09"),
]


@pytest.mark.parametrize("text,same", SAME_AS_WORDS, ids=[t for t, _ in SAME_AS_WORDS])
@pytest.mark.parametrize("zone", ["Europe/Vienna", "America/Halifax", "Asia/Karachi"])
def test_words_people_type_read_as_the_known_forms(text: str, same: str, zone: str) -> None:
    assert tp.parse_when(text, zone) == tp.parse_when(same, zone)


def test_iso_date_with_words_keeps_dst_and_refuses_nonsense() -> None:
    assert tp.parse_when("2025-03-30 3am", "Europe/Vienna").utc == utc(2025, 3, 30, 1, 0)
    for text, message in [("2025-02-30 noon", "not a real date"),
                          ("2025-05-09 13pm", "not a 12-hour time"),
                          ("2025-03-30 2:30am", "does not exist"),
                          ("by", "not a date or time I can read")]:
        with pytest.raises(TrackerError) as info:
            tp.parse_when(text, "Europe/Vienna", "due")
        assert message in info.value.message, (text, info.value.message)


@pytest.mark.parametrize("typo,meant", [
    ("Europe/Viena", "Europe/Vienna"), ("Asia/Tokio", "Asia/Tokyo"),
    ("America/NewYork", "America/New_York"), ("Africa/Lagoss", "Africa/Lagos"),
    ("Viena", "Europe/Vienna"), ("Karachy", "Asia/Karachi"),
])
def test_zone_typos_get_a_suggestion_by_similarity(typo: str, meant: str) -> None:
    with pytest.raises(TrackerError) as info:
        tp.parse_zone(typo, "tz")
    assert f"did you mean {meant}?" in info.value.message


def test_far_off_zone_names_get_no_guess() -> None:
    with pytest.raises(TrackerError) as info:
        tp.parse_zone("Atlantis/Nowhere", "tz")
    assert "did you mean" not in info.value.message


# --- legacy zone names and abbreviations: fixed offsets in disguise -----------------------

@pytest.mark.parametrize(("name", "city"), [
    ("EST", "America/New_York"), ("EST", "America/Panama"), ("MST", "America/Phoenix"),
    ("HST", "Pacific/Honolulu"), ("EST5EDT", "America/New_York"),
    ("CST6CDT", "America/Chicago"), ("MST7MDT", "America/Denver"),
    ("PST8PDT", "America/Los_Angeles"), ("CET", "Europe/Vienna"), ("MET", "Europe/Vienna"),
    ("WET", "Europe/Lisbon"), ("EET", "Europe/Athens"), ("cet", "Europe/Vienna"),
    ("est", "America/New_York"), ("CEST", "Europe/Vienna"), ("PDT", "America/Los_Angeles"),
])
def test_legacy_zone_names_are_refused_with_city_zones(name: str, city: str) -> None:
    with pytest.raises(TrackerError) as info:
        tp.parse_zone(name, "tz")
    assert info.value.field == "tz" and city in info.value.message, info.value.message
    assert "did you mean" not in info.value.message  # never suggests the legacy name itself


def test_est_in_july_would_have_been_an_hour_off_new_york() -> None:
    """The bug: '2025-07-15 10:00' in EST was 15:00Z, where New York means 14:00Z."""
    assert tp.parse_when("2025-07-15 10:00", "America/New_York").utc == utc(2025, 7, 15, 14, 0)
    with pytest.raises(TrackerError, match="America/New_York"):
        tp.parse_when("2025-07-15 10:00", "EST")


def test_links_to_city_zones_are_still_accepted() -> None:
    assert tp.parse_zone("US/Eastern").key == "US/Eastern"
    assert tp.parse_zone("Europe/Kiev").key == "Europe/Kiev"


# --- "D midnight" and 24:00: the end of day D -----------------------------------------------

@pytest.mark.parametrize("text", [
    "9 May 2025 midnight", "Fri 9 May 2025 midnight", "midnight 9 May 2025",
    "9 May 2025 at midnight", "2025-05-09 midnight", "2025-05-09T24:00", "2025-05-09 24:00",
    "2025-05-09 24:00:00", "9 May 2025 24:00", "09/05/2025 24:00", "May 9, 2025 24:00",
])
@pytest.mark.parametrize(("zone", "utc_next_midnight"), [
    ("Europe/Vienna", utc(2025, 5, 9, 22, 0)), ("America/Halifax", utc(2025, 5, 10, 3, 0)),
    ("Asia/Karachi", utc(2025, 5, 9, 19, 0)), ("Africa/Lagos", utc(2025, 5, 9, 23, 0)),
])
def test_midnight_and_24h_are_the_end_of_that_day(text: str, zone: str,
                                                  utc_next_midnight: datetime) -> None:
    when = tp.parse_when(text, zone, "due")
    assert when.end_of == date(2025, 5, 9)
    assert when.utc == utc_next_midnight and when.day is None


def test_24h_with_an_offset_is_the_instant_it_names() -> None:
    when = tp.parse_when("2025-05-09T24:00+02:00", "America/Halifax")
    assert when.utc == utc(2025, 5, 9, 22, 0) and when.end_of is None


def test_midnight_on_the_night_new_york_falls_back() -> None:
    when = tp.parse_when("2 Nov 2024 midnight", "America/New_York")
    assert when.end_of == date(2024, 11, 2) and when.utc == utc(2024, 11, 3, 4, 0)


@pytest.mark.parametrize("text", ["24:00", "9 May 2025 24:30", "2025-05-09T25:00",
                                  "2025-05-32 midnight"])
def test_bad_midnights(text: str) -> None:
    with pytest.raises(TrackerError):
        tp.parse_when(text, "Europe/Vienna", "due")


def test_end_of_day_is_the_last_2359_where_it_happens_twice() -> None:
    """Santiago goes back from 24:00 to 23:00 on 5 Apr 2025: the day ends at the second 23:59."""
    assert tp.end_of_day(date(2025, 4, 5), "America/Santiago") == utc(2025, 4, 6, 3, 59)
    assert tp.end_of_day(date(2025, 4, 4), "America/Santiago") == utc(2025, 4, 5, 2, 59)
    assert tp.end_of_day(date(2024, 10, 27), "Europe/Vienna") == utc(2024, 10, 27, 22, 59)
