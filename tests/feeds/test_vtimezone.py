"""VTIMEZONEs read right by ical.js (Thunderbird) and icalendar, checked against zoneinfo."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream

from tests.helpers.feedcheck import read_icaljs
from tracker.feeds.vtimezone import vtimezone, vtimezone_text

ZONES = [
    "Europe/Vienna", "America/New_York", "America/Halifax", "Asia/Tokyo", "Africa/Lagos",
    "Asia/Karachi", "America/Mexico_City",
    # harder cases: southern hemisphere, 30-minute DST, a rule zic cannot write as an RRULE
    # (Nuuk: transitions at -01:00 local), Ramadan transitions listed explicitly (Casablanca)
    "Australia/Sydney", "Australia/Lord_Howe", "America/Nuuk", "Africa/Casablanca", "UTC",
]
FIRST, LAST = 2019, 2026


def probe_days(zone: str, first: int = FIRST, last: int = LAST) -> list[date]:
    """The 1st and 15th of every month, plus the days either side of every offset change."""
    tz = ZoneInfo(zone)
    days = []
    d = date(first, 1, 1)
    while d.year <= last:
        days += [d.replace(day=1), d.replace(day=15)]
        d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    d = date(first, 1, 1)
    while d.year <= last:
        a = datetime(d.year, d.month, d.day, 12, tzinfo=tz).utcoffset()
        nxt = d + timedelta(days=1)
        b = datetime(nxt.year, nxt.month, nxt.day, 12, tzinfo=tz).utcoffset()
        if a != b:
            days += [d - timedelta(days=1), d, nxt, nxt + timedelta(days=1)]
        d = nxt
    return sorted(set(days))


def probe_calendar(zone: str, first: int = FIRST,
                   last: int = LAST) -> tuple[str, dict[str, datetime]]:
    """A calendar with a VEVENT at 12:00 local on each probe day, and the true UTC instants."""
    tz = ZoneInfo(zone)
    expected: dict[str, datetime] = {}
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//vtimezone//EN"]
    body = vtimezone_text(zone, first, last).replace("\r\n", "\n").strip().split("\n")
    lines += body
    for day in probe_days(zone, first, last):
        uid = f"{zone}-{day.isoformat()}"
        expected[uid] = datetime(day.year, day.month, day.day, 12, tzinfo=tz).astimezone(UTC)
        lines += [
            "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20240101T000000Z", "SUMMARY:probe",
            f"DTSTART;TZID={zone}:{day:%Y%m%d}T120000",
            f"DTEND;TZID={zone}:{day:%Y%m%d}T130000", "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n", expected


@pytest.mark.slow
@pytest.mark.parametrize("zone", ZONES, ids=ZONES)
def test_icaljs_reads_every_probe_right(zone: str, tmp_path: Path) -> None:
    text, expected = probe_calendar(zone)
    path = tmp_path / "probe.ics"
    path.write_text(text, encoding="utf-8", newline="")
    got = read_icaljs(path)
    wrong = {uid: (got[uid].start, want) for uid, want in expected.items() if got[uid].start != want}
    assert not wrong, f"ical.js reads {len(wrong)} of {len(expected)} wrong: {list(wrong.items())[:3]}"
    assert len(expected) >= 190


@pytest.mark.parametrize("zone", ZONES, ids=ZONES)
def test_icalendar_to_tz_agrees_with_zoneinfo(zone: str) -> None:
    """An independent reading of our VTIMEZONE: icalendar turns it into a tzinfo."""
    tz = vtimezone(zone, FIRST, LAST).to_tz()
    true_zone = ZoneInfo(zone)
    wrong = []
    for day in probe_days(zone):
        ours = datetime(day.year, day.month, day.day, 12, tzinfo=tz).utcoffset()
        truth = datetime(day.year, day.month, day.day, 12, tzinfo=true_zone).utcoffset()
        if ours != truth:
            wrong.append((day, ours, truth))
    assert not wrong, wrong[:3]


def test_current_rule_is_an_rrule_and_no_multi_valued_rdate() -> None:
    text = vtimezone_text("Europe/Vienna", 2024, 2025)
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in text
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in text
    for zone in ZONES:
        for line in vtimezone_text(zone, FIRST, LAST).split("\r\n"):
            assert not (line.startswith("RDATE") and "," in line), (zone, line)


def test_mexico_city_keeps_its_dst_years_and_then_stops() -> None:
    """Rules changed inside the range: transitions before 2022 are listed one by one."""
    tz = vtimezone("America/Mexico_City", 2021, 2024)
    starts = [str(c["DTSTART"]) for c in tz.subcomponents]
    assert starts[-1] == "20221030T020000"  # the last change: CDT -> CST for good
    assert "20210404T020000" in starts and "20220403T020000" in starts
    assert not any("RRULE" in c for c in tz.subcomponents)
    # After the rule change the zone has no DST: a range after 2022 needs one component.
    assert len(vtimezone("America/Mexico_City", 2024, 2026).subcomponents) == 1


def test_zones_without_dst_have_one_fixed_component() -> None:
    for zone, offset in [("Asia/Tokyo", "+0900"), ("Africa/Lagos", "+0100"),
                         ("Asia/Karachi", "+0500")]:
        comps = vtimezone(zone, 2020, 2026).subcomponents
        assert len(comps) == 1
        assert comps[0].name == "STANDARD"
        assert comps[0]["TZOFFSETTO"].to_ical() == offset


def test_strict_ical_package_accepts_the_vtimezones() -> None:
    for zone in ZONES:
        text, expected = probe_calendar(zone)
        cal = IcsCalendarStream.calendar_from_ics(text)
        assert [tz.tz_id for tz in cal.timezones] == [zone]
        assert len(cal.events) == len(expected)
        parsed = icalendar.Calendar.from_ical(text)
        assert len(list(parsed.walk("VTIMEZONE"))) == 1
