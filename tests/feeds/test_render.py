"""Pure feed rendering: three parsers agree with the models; the RFC 5545 details hold."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ical.calendar_stream import IcsCalendarStream

from tests.helpers.feed_data import NOW, TRICKY, expected_times, matrix
from tests.helpers.feedcheck import read_all, read_ical, read_icalendar, read_icaljs
from tracker.feeds.render import (
    FeedSettings,
    VeventCache,
    item_from_deadline,
    item_from_event,
    render_calendar,
    render_vevent,
    repeated_hour,
    split_description,
)

SETTINGS = FeedSettings(name="Alliance events and deadlines", refresh="PT1H", cancelled_days=60)


def feed_items() -> tuple[list, dict]:
    events, deadlines = matrix()
    items = [item_from_event(e) for e in events] + [item_from_deadline(d) for d in deadlines]
    rows = {e.uid: e for e in events} | {d.uid: d for d in deadlines}
    return items, rows


def write(tmp_path: Path, data: bytes, name: str = "feed.ics") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_three_parsers_agree_with_the_models(tmp_path: Path) -> None:
    items, rows = feed_items()
    got = read_all(write(tmp_path, render_calendar(items, SETTINGS, NOW)))
    assert set(got) == set(rows)
    for uid, row in rows.items():
        assert (got[uid].start, got[uid].end) == expected_times(row), uid
        assert got[uid].sequence == row.sequence


def test_dst_sides_are_an_hour_apart_in_utc(tmp_path: Path) -> None:
    """12:00 Vienna is 10:00Z in October and 11:00Z in January, as Thunderbird must read it."""
    items, _ = feed_items()
    got = read_icaljs(write(tmp_path, render_calendar(items, SETTINGS, NOW)))
    hour = {uid.split(".")[0]: got[uid].start.strftime("%Y-%m-%d %H:%M") for uid in got}  # type: ignore[union-attr]
    assert hour["vienna-summer"] == "2024-10-14 10:00"
    assert hour["vienna-winter"] == "2025-01-14 11:00"
    assert hour["ny-before"] == "2024-11-01 13:00" and hour["ny-after"] == "2024-11-04 14:00"
    assert hour["halifax-before"] == "2024-03-08 14:00"
    assert hour["halifax-after"] == "2024-03-11 13:00"
    assert hour["mexico-2021"] == "2021-07-15 17:00" and hour["mexico-2024"] == "2024-07-15 18:00"
    assert hour["lagos"] == "2024-10-14 14:00" and hour["karachi"] == "2024-10-14 10:00"
    assert hour["tokyo"] == "2021-03-07 01:00"


def test_calendar_properties_and_one_vtimezone_per_zone() -> None:
    items, rows = feed_items()
    cal = icalendar.Calendar.from_ical(render_calendar(items, SETTINGS, NOW))
    assert str(cal["VERSION"]) == "2.0" and str(cal["METHOD"]) == "PUBLISH"
    assert "PRODID" in cal
    assert str(cal["NAME"]) == str(cal["X-WR-CALNAME"]) == SETTINGS.name
    refresh = cal["REFRESH-INTERVAL"]
    assert refresh.params["VALUE"] == "DURATION" and refresh.to_ical() == b"PT1H"
    assert str(cal["X-PUBLISHED-TTL"]) == "PT1H"
    tzids = [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")]
    timed_zones = {r.tz for r in rows.values() if not getattr(r, "all_day", False)}
    assert sorted(tzids) == sorted(timed_zones)  # exactly one each, none unused
    for ev in cal.walk("VEVENT"):
        row = rows[str(ev["UID"])]
        if getattr(row, "all_day", False):
            assert ev["DTSTART"].params.get("VALUE") == "DATE"
            assert "TZID" not in ev["DTSTART"].params
        else:  # a time in the repeated hour is in UTC, its zone in X-TRACKER-TZ
            zone = ZoneInfo(row.tz)
            start, end = expected_times(row)
            for name, utc in (("DTSTART", start), ("DTEND", end)):
                if repeated_hour(utc, zone):  # type: ignore[arg-type]
                    assert "TZID" not in ev[name].params and ev[name].to_ical().endswith(b"Z")
                    assert str(ev["X-TRACKER-TZ"]) == row.tz
                else:
                    assert ev[name].params["TZID"] == row.tz


def test_deadlines_are_short_events_with_alarm_window_and_url(tmp_path: Path) -> None:
    items, rows = feed_items()
    path = write(tmp_path, render_calendar(items, SETTINGS, NOW))
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    speakers = events["speakers.deadline@tracker.example.org"]
    assert speakers["DTEND"].dt - speakers["DTSTART"].dt == timedelta(minutes=15)
    description = str(speakers["DESCRIPTION"])
    assert description.startswith("Register on INDICO; bring your passport.")
    assert "Opens: 2024-09-16 09:00 Europe/Vienna" in description
    assert "Due: 2024-10-14 12:00 Europe/Vienna" in description
    assert str(speakers["URL"]) == "https://indico.un.org/event/cop12/registration"
    alarms = speakers.walk("VALARM")
    assert len(alarms) == 1 and alarms[0]["TRIGGER"].dt == -timedelta(days=1)
    assert str(speakers["X-TRACKER-KIND"]) == "speakers-list"
    # due "on a date" (23:59 local) ends at local midnight, inside its day
    reg = events["registration.deadline@tracker.example.org"]
    assert reg["DTEND"].dt - reg["DTSTART"].dt == timedelta(minutes=1)
    js = read_icaljs(path)
    assert js["speakers.deadline@tracker.example.org"].start == rows[
        "speakers.deadline@tracker.example.org"].due_utc
    # cancelled deadlines carry no alarm
    assert not events["cancelled-fee.deadline@tracker.example.org"].walk("VALARM")


def test_escaping_and_non_ascii_survive_all_three_parsers(tmp_path: Path) -> None:
    items, _ = feed_items()
    data = render_calendar(items, SETTINGS, NOW)
    uid = "cop12.event@tracker.example.org"
    cal = icalendar.Calendar.from_ical(data)
    summary = {str(e["UID"]): str(e["SUMMARY"]) for e in cal.walk("VEVENT")}
    assert summary[uid] == TRICKY

    strict = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    assert {e.uid: e.summary for e in strict.events}[uid] == TRICKY
    import json
    import subprocess

    from tests.helpers.feedcheck import ICALJS_SCRIPT, ROOT, node_path

    path = write(tmp_path, data)
    out = subprocess.run([node_path(), str(ICALJS_SCRIPT), str(path)], capture_output=True,
                         text=True, cwd=ROOT, check=True)
    assert {e["uid"]: e["summary"] for e in json.loads(out.stdout)}[uid] == TRICKY
    assert b"Plenary\\; CR7\\, \"Board\" \\\\ Ministerial\\nsegment" in data.replace(b"\r\n ", b"")


def test_crlf_and_75_octet_folding() -> None:
    items, _ = feed_items()
    long_title = dataclasses.replace(items[0], title="Łódź " * 40, description="x" * 500)
    data = render_calendar([long_title, *items[1:]], SETTINGS, NOW)
    assert data.endswith(b"END:VCALENDAR\r\n")
    lines = data.split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 75
    for line in lines:
        line.decode("utf-8")  # folding never splits a multi-byte character
    summaries = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(data).walk("VEVENT")]
    assert "Łódź " * 40 in summaries


def test_unchanged_items_render_byte_identical_whatever_now() -> None:
    items, _ = feed_items()
    first = render_calendar(items, SETTINGS, NOW)
    later = render_calendar(list(reversed(items)), SETTINGS, NOW + timedelta(days=30))
    assert first == later


def test_cancelled_items_stay_then_drop_out() -> None:
    items, rows = feed_items()
    uid = "cancelled-side.event@tracker.example.org"
    cancelled_at = rows[uid].cancelled_at
    during = read_icalendar(render_calendar(items, SETTINGS, cancelled_at + timedelta(days=59)))
    assert during[uid].status == "CANCELLED"
    after = read_icalendar(render_calendar(items, SETTINGS, cancelled_at + timedelta(days=60)))
    assert uid not in after
    assert "vienna-summer.event@tracker.example.org" in after
    short = dataclasses.replace(SETTINGS, cancelled_days=0)
    assert uid not in read_ical(render_calendar(items, short, cancelled_at))


def test_cache_renders_each_item_once_and_again_after_a_change() -> None:
    items, _ = feed_items()
    cache = VeventCache()
    first = render_calendar(items, SETTINGS, NOW, cache=cache)
    assert len(cache.dirty) == len(items)
    cache.dirty.clear()
    assert render_calendar(items, SETTINGS, NOW, cache=cache) == first
    assert cache.dirty == set()
    edited = dataclasses.replace(items[0], title="Moved", sequence=items[0].sequence + 1,
                                 modified_at=NOW)
    changed = render_calendar([edited, *items[1:]], SETTINGS, NOW, cache=cache)
    assert cache.dirty == {items[0].uid}
    assert changed != first
    assert render_vevent(edited) in changed.decode("utf-8")


def test_description_footer_splits_back_to_instructions() -> None:
    _, deadlines = matrix()
    item = item_from_deadline(deadlines[0])
    assert split_description(item.description) == deadlines[0].instructions
    assert split_description("Just text\n\nwith paragraphs") == "Just text\n\nwith paragraphs"
    assert split_description("Due: 2024-10-04 23:59 Europe/Vienna") == ""


safe_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r") | st.just("\n"),
    min_size=1, max_size=200,
).filter(lambda s: s.strip() == s and s.strip())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=safe_text, description=safe_text)
def test_any_text_round_trips(title: str, description: str) -> None:
    items, _ = feed_items()
    item = dataclasses.replace(items[0], title=title, description=description)
    data = render_calendar([item], SETTINGS, NOW)
    ev = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
    assert str(ev["SUMMARY"]) == title and str(ev["DESCRIPTION"]) == description
    assert max(len(line) for line in data.split(b"\r\n")) <= 75


@pytest.mark.parametrize("refresh", ["PT1H", "P1D", "PT15M"])
def test_refresh_interval_follows_config(refresh: str) -> None:
    items, _ = feed_items()
    data = render_calendar(items, dataclasses.replace(SETTINGS, refresh=refresh), NOW)
    assert f"REFRESH-INTERVAL;VALUE=DURATION:{refresh}\r\n".encode() in data
    assert f"X-PUBLISHED-TTL:{refresh}\r\n".encode() in data


def test_extended_deadline_says_from_when() -> None:
    from datetime import UTC, date, datetime

    from tests.helpers.feed_data import deadline

    timed = deadline("x", "Europe/Vienna", datetime(2024, 10, 11, 12, 0), status="extended",
                     first_due_utc=datetime(2024, 10, 4, 10, 0, tzinfo=UTC))
    assert "Due: 2024-10-11 12:00 Europe/Vienna; extended from Fri 4 Oct 2024 12:00" in (
        item_from_deadline(timed).description)
    on_date = deadline("y", "Europe/Vienna", datetime(2024, 10, 11, 23, 59),
                       due_date=date(2024, 10, 11), status="extended",
                       first_due_utc=datetime(2024, 10, 4, 21, 59, tzinfo=UTC),
                       first_due_date=date(2024, 10, 4))
    assert item_from_deadline(on_date).description.endswith(
        "Due: end of Fri 11 Oct 2024 (Europe/Vienna); extended from Fri 4 Oct 2024\n"
        "E-mail: registry@example.org")
    earlier = deadline("z", "Europe/Vienna", datetime(2024, 10, 1, 12, 0), status="open",
                       first_due_utc=datetime(2024, 10, 4, 10, 0, tzinfo=UTC))
    assert "extended" not in item_from_deadline(earlier).description
    assert split_description(item_from_deadline(timed).description) == (
        "Register on INDICO; bring your passport.")


BACKSLASH_N = [r"Save to C:\New folder", r"\N", "a\\\\N, b\\\\\\N", "line\\\nN", r"ends in \\"]


@pytest.mark.parametrize("text", BACKSLASH_N, ids=["path", "alone", "doubled", "newline", "end"])
def test_a_literal_backslash_n_is_not_a_line_break(tmp_path: Path, text: str) -> None:
    """icalendar 7.3 writes a literal backslash-N as an escaped line break (its escaping reads
    `\\N` as RFC 5545's newline escape first): "C:\\New" reached calendars as "C:" and "ew"."""
    items, _ = feed_items()
    item = dataclasses.replace(items[0], title=text, description=f"{text}\n{text}", location=text)
    data = render_calendar([item], SETTINGS, NOW)
    ev = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
    assert (str(ev["SUMMARY"]), str(ev["DESCRIPTION"]), str(ev["LOCATION"])) == (
        text, f"{text}\n{text}", text)
    strict = IcsCalendarStream.calendar_from_ics(data.decode("utf-8")).events[0]
    assert (strict.summary, strict.description, strict.location) == (
        text, f"{text}\n{text}", text)
    assert read_all(write(tmp_path, data))[item.uid].summary == text  # ical.js, libical agree
