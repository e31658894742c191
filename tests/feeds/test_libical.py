"""libical (Evolution) as the fourth reader, and the repeated hour every reader must agree on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.feeds.test_vtimezone import ZONES, probe_calendar
from tests.helpers.feed_data import NOW, deadline, timed_event
from tests.helpers.feedcheck import (
    libical_or_skip,
    read_all,
    read_icalendar,
    read_icaljs,
    read_libical,
)
from tracker.feeds.render import FeedSettings, item_from_deadline, item_from_event, render_calendar
from tracker.feeds.vtimezone import vtimezone_text

SETTINGS = FeedSettings(name="t", refresh="PT1H", cancelled_days=60)
# The three measured cases: a wall-clock time inside the hour that happens twice.
REPEATED = [
    ("Europe/Vienna", datetime(2024, 10, 27, 2, 30)),
    ("America/Mexico_City", datetime(2021, 10, 31, 1, 30)),
    ("America/Halifax", datetime(2027, 11, 7, 1, 30)),
]
# The feed tests' zones plus zones with odd rules: 30-minute DST (Lord Howe), Ramadan
# (Casablanca), midnight changes (Santiago), a dropped DST (Apia 2021), Tehran (dropped 2022),
# Dublin (negative DST: IST is "standard", GMT the winter "daylight").
EXTRA_ZONES = ["America/Santiago", "Pacific/Apia", "Asia/Tehran", "Europe/Dublin"]
LIBICAL_ZONES = sorted(set(ZONES) | {"Australia/Lord_Howe", "Africa/Casablanca", *EXTRA_ZONES})


def first(tz: str, local: datetime) -> datetime:
    """The instant the product means: the first of the two (fold=0)."""
    return local.replace(tzinfo=ZoneInfo(tz), fold=0).astimezone(UTC)


def test_libical_is_installed() -> None:
    """Says once, by name, why libical checks are skipped where the Debian packages are missing."""
    libical_or_skip()


def test_repeated_hour_reads_as_the_first_occurrence_everywhere(tmp_path: Path) -> None:
    libical_or_skip()
    events = [timed_event(f"rep{i}", tz, local, 90, ["x"]) for i, (tz, local) in enumerate(REPEATED)]
    deadlines = [deadline(f"due{i}", tz, local) for i, (tz, local) in enumerate(REPEATED)]
    items = [item_from_event(e) for e in events] + [item_from_deadline(d) for d in deadlines]
    path = tmp_path / "repeated.ics"
    path.write_bytes(render_calendar(items, SETTINGS, NOW))
    got = read_all(path)  # icalendar, ical, ical.js and libical agree...
    for i, (tz, local) in enumerate(REPEATED):
        want = first(tz, local)  # ...on the first occurrence, as stored
        assert got[f"rep{i}.event@tracker.example.org"].start == want, tz
        assert got[f"due{i}.deadline@tracker.example.org"].start == want, tz
        assert want == events[i].start_utc
    text = path.read_text()
    assert "DTSTART:20241027T003000Z" in text and "X-TRACKER-TZ:Europe/Vienna" in text
    # a time outside the repeated hour keeps its TZID (calendars show it in its own zone)
    assert "DTEND;TZID=Europe/Vienna:20241027T030000" in text


def tzid_form(tz: str, local: datetime) -> str:
    """What the feeds wrote before: the wall-clock time with its TZID."""
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//repeated//EN",
        vtimezone_text(tz, local.year, local.year).strip(),
        "BEGIN:VEVENT", "UID:before", "DTSTAMP:20240101T000000Z",
        f"DTSTART;TZID={tz}:{local:%Y%m%dT%H%M%S}",
        f"DTEND;TZID={tz}:{local + timedelta(hours=2):%Y%m%dT%H%M%S}",
        "END:VEVENT", "END:VCALENDAR", "",
    ])


@pytest.mark.parametrize(("tz", "local"), REPEATED, ids=[z for z, _ in REPEATED])
def test_before_the_tzid_form_was_read_an_hour_apart(tz: str, local: datetime,
                                                     tmp_path: Path) -> None:
    """Why the feeds write these in UTC: with a TZID, libical and ical.js take the second one."""
    libical_or_skip()
    path = tmp_path / "before.ics"
    path.write_text(tzid_form(tz, local), encoding="utf-8", newline="")
    want = first(tz, local)
    assert read_icalendar(path.read_bytes())["before"].start == want
    assert read_icaljs(path)["before"].start == want + timedelta(hours=1)
    assert read_libical(path)["before"].start == want + timedelta(hours=1)


@pytest.mark.slow
@pytest.mark.parametrize("zone", LIBICAL_ZONES, ids=LIBICAL_ZONES)
def test_libical_reads_every_vtimezone_probe_right(zone: str, tmp_path: Path) -> None:
    """Our embedded VTIMEZONE, converted by libical, gives zoneinfo's instant, 2019-2027."""
    libical_or_skip()
    text, expected = probe_calendar(zone, 2019, 2027)
    path = tmp_path / "probe.ics"
    path.write_text(text, encoding="utf-8", newline="")
    got = read_libical(path)
    wrong = {uid: (got[uid].start, want) for uid, want in expected.items() if got[uid].start != want}
    assert not wrong, f"libical reads {len(wrong)} of {len(expected)} wrong: {list(wrong.items())[:3]}"
    assert len(expected) >= 200


@pytest.mark.slow
@pytest.mark.parametrize("zone", EXTRA_ZONES, ids=EXTRA_ZONES)
def test_icaljs_reads_the_extra_zones_right(zone: str, tmp_path: Path) -> None:
    text, expected = probe_calendar(zone, 2019, 2027)
    path = tmp_path / "probe.ics"
    path.write_text(text, encoding="utf-8", newline="")
    got = read_icaljs(path)
    wrong = {uid: (got[uid].start, want) for uid, want in expected.items() if got[uid].start != want}
    assert not wrong, f"ical.js reads {len(wrong)} of {len(expected)} wrong: {list(wrong.items())[:3]}"
