"""The strict date, time and zone patterns, one phrasing per row."""

from __future__ import annotations

from datetime import time

import pytest

from tracker.extract.grammar import find_clocks, find_dates, find_zone

DATES = [
    ("14 October", [(10, (14,), None, False)]),
    ("on Monday, October 14th", [(10, (14,), None, False)]),
    ("on Friday 11, October from 9 am", [(10, (11,), None, False)]),
    ("on the 4th and 5th of May", [(5, (4, 5), None, False)]),
    ("from 14 to 18 October 2024", [(10, (14, 18), 2024, True)]),
    ("14-18 October 2024", [(10, (14, 18), 2024, True)]),
    ("May 4-5, 2025", [(5, (4, 5), 2025, True)]),
    ("09 Nov 2022, 15:00", [(11, (9,), 2022, False)]),
    ("by 1 May", [(5, (1,), None, False)]),
    ("Firearms (05/05)", [(5, (5,), None, False)]),
    ("deadline 15/06/2025", [(6, (15,), 2025, False)]),
    ("on 14.10.2024", [(10, (14,), 2024, False)]),
    ("on 2024-10-14", [(10, (14,), 2024, False)]),
    ("Tues 1 July and Wed 2 July 2025", [(7, (1,), None, False), (7, (2,), 2025, False)]),
    ("September 2nd, and will close", [(9, (2,), None, False)]),
]
NOT_DATES = [
    "participants may register by email",  # the verb
    "resolution 26/3 of the Commission",
    "COP12 and the 2030 Agenda",
    "a budget of 3.5 million",
    "15 members attended",
    "CTOC/COP/2024/1 was issued",
]


@pytest.mark.parametrize("text,expected", DATES, ids=[t for t, _ in DATES])
def test_dates_are_found(text: str, expected: list[tuple[int, tuple[int, ...], int | None, bool]]
                         ) -> None:
    hits = find_dates(text)
    assert [(h.month, h.days, h.year, h.is_range) for h in hits] == expected


@pytest.mark.parametrize("text", NOT_DATES)
def test_numbers_that_are_not_dates(text: str) -> None:
    assert find_dates(text) == []


def test_weekday_is_kept_for_checking() -> None:
    (hit,) = find_dates("on Monday, October 14th")
    assert hit.weekday == 0


CLOCKS = [
    ("at noon on", [(time(12), None)]),
    ("by midnight on 4 October", [(time(0), None)]),
    ("15:00 - 16:30 (GMT+1)", [(time(15), time(16, 30))]),
    ("from 9 am until 1 p.m. and", [(time(9), time(13))]),
    ("8 a.m. to 11 a.m.", [(time(8), time(11))]),
    ("between 10:00 and 12:00", [(time(10), time(12))]),
    ("between 9.00 and 12.00 only", [(time(9), time(12))]),
    ("15.00-16.30 CET", [(time(15), time(16, 30))]),
    ("at 9.30 a.m.", [(time(9, 30), None)]),
    ("at 4 p.m.", [(time(16), None)]),
    ("10:00 and 11:00", [(time(10), None), (time(11), None)]),  # 'and' alone is no window
]


@pytest.mark.parametrize("text,expected", CLOCKS, ids=[t for t, _ in CLOCKS])
def test_clock_times_and_windows(text: str, expected: list[tuple[time, time | None]]) -> None:
    assert [(c.first, c.last) for c in find_clocks(text)] == expected


@pytest.mark.parametrize("text", ["EUR 15.00 per person", "3 members", "room 12.30B"])
def test_numbers_that_are_not_times(text: str) -> None:
    assert find_clocks(text) == []


ZONES = [
    ("15:00 - 16:30 (GMT+1)", 60, None),
    ("15:00 (GMT+2)", 120, None),
    ("10:00 UTC-04:00", -240, None),
    ("at 10:00 CEST", 120, "Europe/Vienna"),
    ("10:00 New York time", None, "America/New_York"),
    ("13:20 Kyoto time", None, "Asia/Tokyo"),
]


@pytest.mark.parametrize("text,minutes,zone", ZONES, ids=[t for t, _, _ in ZONES])
def test_stated_zones(text: str, minutes: int | None, zone: str | None) -> None:
    hint = find_zone(text)
    assert hint is not None
    assert (hint.offset_minutes, hint.zone) == (minutes, zone)


def test_no_zone_stated() -> None:
    assert find_zone("at 15:00 in CR7") is None
