"""`tracker import ics`: other producers' files and our own feed, idempotent, all or nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.helpers.cli import Cli
from tests.helpers.feed_data import NOW
from tests.helpers.feedcheck import read_all
from tests.helpers.feeds import fill, make_config, publish
from tracker.config import Config
from tracker.db.engine import migrate, session_scope
from tracker.errors import TrackerError
from tracker.ics.apply import ImportReport, import_ics
from tracker.links import host_of
from tracker.records.models import Deadline, Event

DATA = Path(__file__).parent / "data"
GOOGLE = DATA / "google_xwr_timezone.ics"
OUTLOOK = DATA / "outlook_windows_zone.ics"
OUTLOOK_UID = "040000008200E00074C5B7101A82E00800000000"



def import_file(config: Config, path: Path, series: list[str], now: datetime,
                progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """`tracker import ics` without the CLI: the file's bytes, one transaction."""
    with session_scope(config.database_url) as session:
        return import_ics(session, path.read_bytes(), str(path), default_tz=config.tracker.timezone,
                          series=series, host=host_of(config.tracker.base_url), now=now,
                          progress=progress)

def events_by_uid(cli: Cli) -> dict[str, dict]:
    return {e["uid"]: e for e in json.loads(cli.ok("event", "list", "--json").output)}


def test_google_file_with_x_wr_timezone(cli: Cli) -> None:
    out = cli.ok("import", "ics", str(GOOGLE), "--series", "csw").output
    assert "6 added, 0 updated, 0 unchanged, 0 skipped" in out
    got = events_by_uid(cli)
    monthly = got["monthly-informal@google.com"]  # recurring, floating in X-WR-TIMEZONE
    assert monthly["repeat"] == "FREQ=MONTHLY;BYDAY=3TH" and monthly["tz"] == "America/New_York"
    before = got["7kukuqrfedlm2f9t6i5o2dqvjb@google.com"]
    after = got["1l3tqk7v0b6ue9e2c0c1h5l3ab@google.com"]
    assert before["tz"] == after["tz"] == "America/New_York"
    assert before["start_utc"] == "2024-11-01T13:00:00Z"  # 09:00 EDT
    assert after["start_utc"] == "2024-11-04T14:00:00Z"  # 09:00 EST
    utc = got["3r9fa0b2m4q5s6t7u8v9w0x1y2@google.com"]
    assert utc["start_utc"] == "2025-03-10T14:00:00Z" and utc["end_utc"] == "2025-03-10T15:30:00Z"
    assert utc["tz"] == "America/New_York" and utc["status"] == "tentative"
    assert utc["series"] == ["csw", "side-event"]
    assert utc["title"] == "CSW69 parallel event: Women; peace and justice"
    assert utc["description"].endswith("Second line with Ünïcødé.")
    session = got["0a1b2c3d4e5f6g7h8i9j0k1l2m@google.com"]
    assert session["all_day"] is True
    shown = json.loads(cli.ok("event", "show", session["id"], "--json").output)
    assert shown["start"].startswith("2025-03-10") and shown["end"].startswith("2025-03-21")
    halifax = got["halifax-call-2024@google.com"]
    assert halifax["tz"] == "America/Halifax" and halifax["start_utc"] == "2024-03-11T13:00:00Z"
    assert halifax["visibility"] == "private"


def test_reimport_updates_instead_of_duplicating(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", "ics", str(GOOGLE))
    first = events_by_uid(cli)
    again = cli.ok("import", "ics", str(GOOGLE)).output
    assert "0 added, 0 updated, 6 unchanged, 0 skipped" in again
    assert events_by_uid(cli) == first
    moved = tmp_path / "moved.ics"
    moved.write_bytes(GOOGLE.read_bytes().replace(b"DTSTART:20241104T090000",
                                                  b"DTSTART:20241104T083000"))
    out = cli.ok("import", "ics", str(moved)).output
    assert "0 added, 1 updated, 5 unchanged, 0 skipped" in out
    now = events_by_uid(cli)
    uid = "1l3tqk7v0b6ue9e2c0c1h5l3ab@google.com"
    assert now[uid]["start_utc"] == "2024-11-04T13:30:00Z"
    assert now[uid]["sequence"] == first[uid]["sequence"] + 1
    assert {u: e["sequence"] for u, e in now.items() if u != uid} == {
        u: e["sequence"] for u, e in first.items() if u != uid}


EXPECTED_OUTLOOK = {
    # W. Europe Standard Time is Europe/Berlin in CLDR; it keeps Vienna's clock, so a Vienna
    # secretariat stores its own zone.
    "A0B1": ("Europe/Vienna", "2024-10-14T10:00:00Z"),  # W. Europe, summer
    "B1C2": ("Europe/Vienna", "2025-01-14T11:00:00Z"),  # W. Europe, winter
    "C2D3": ("America/New_York", "2024-11-04T14:00:00Z"),
    "D3E4": ("America/Halifax", "2024-03-11T13:00:00Z"),
    "E4F5": ("Asia/Karachi", "2024-10-14T10:00:00Z"),
    "F5A6": ("Africa/Lagos", "2024-10-14T14:00:00Z"),
    "A6B7": ("Asia/Tokyo", "2021-03-07T01:00:00Z"),
    "B7C8": ("America/Mexico_City", "2021-07-15T17:00:00Z"),  # CDT, before 2022
}


def test_outlook_file_with_windows_zone_names(cli: Cli) -> None:
    out = cli.ok("import", "ics", str(OUTLOOK)).output
    assert "9 added, 0 updated, 0 unchanged, 0 skipped" in out
    got = {uid[len(OUTLOOK_UID):][:4]: e for uid, e in events_by_uid(cli).items()}
    for key, (tz, start) in EXPECTED_OUTLOOK.items():
        assert (got[key]["tz"], got[key]["start_utc"]) == (tz, start), key
    week = got["C8D9"]
    assert week["all_day"] is True
    assert (week["start"][:10], week["end"][:10]) == ("2024-10-14", "2024-10-18")


def test_malformed_file_exits_2_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    for bad, words in [
        (DATA / "malformed_dtstart.ics", "DTSTART"),
        (_write(tmp_path, "notes.ics", b"Meeting on Tuesday at noon\n"), "not"),
        (_write(tmp_path, "empty.ics", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"),
         "no VEVENT"),
    ]:
        result = cli("import", "ics", str(bad))
        assert result.exit_code == 2, (bad, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.output
        assert json.loads(cli.ok("event", "list", "--json").output) == []


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def fill_one_line_titles(url: str) -> None:
    """The feed matrix, with titles on one line as the CLI (and the importer) keep them."""
    fill(url)
    with session_scope(url) as s:
        cop12 = s.get(Event, "cop12")
        assert cop12 is not None
        cop12.title = " ".join(cop12.title.split())


def test_round_trip_of_our_own_feed(tmp_path: Path, sqlite_url: str, second_store: str) -> None:
    """Publish from A, import into an empty B, publish B: the same items at the same instants."""
    fill_one_line_titles(sqlite_url)
    config_a = make_config(tmp_path / "a", sqlite_url)
    publish(config_a, NOW)
    feed_a = config_a.calendars_dir / "all.ics"

    url_b = second_store
    migrate(url_b)
    config_b = make_config(tmp_path / "b", url_b)
    calls: list[tuple[int, int]] = []
    report = import_file(config_b, feed_a, [], NOW, progress=lambda d, t: calls.append((d, t)))
    assert (report.added, report.updated, report.unchanged, report.skipped) == (23, 0, 0, 0)
    assert calls[-1] == (23, 23)
    publish(config_b, NOW)
    a, b = read_all(feed_a), read_all(config_b.calendars_dir / "all.ics")
    assert a == b
    with session_scope(url_b) as s:
        speakers = s.scalar(select(Deadline).where(Deadline.uid.like("speakers.%")))
        assert speakers is not None
        assert speakers.kind == "speakers-list"
        assert speakers.instructions == "Register on INDICO; bring your passport."
        assert speakers.opens_utc == datetime(2024, 9, 16, 7, 0, tzinfo=UTC)
        assert speakers.email == "registry@example.org" and speakers.series == ["untoc-cop"]
        reg = s.scalar(select(Deadline).where(Deadline.uid.like("registration.%")))
        assert reg is not None and reg.due_date == date(2024, 10, 4)
        assert s.scalar(select(func.count()).select_from(Deadline)) == 5
        # written in UTC (the repeated hour), read back with its own zone from X-TRACKER-TZ
        fallback = s.scalar(select(Deadline).where(Deadline.uid.like("fallback-due.%")))
        assert fallback is not None and fallback.tz == "Europe/Vienna"
        assert fallback.due_utc == datetime(2024, 10, 27, 0, 15, tzinfo=UTC)
        repeated = s.scalar(select(Event).where(Event.uid.like("halifax-repeated.%")))
        assert repeated is not None and repeated.tz == "America/Halifax"
    # ...and importing A's feed into A changes nothing
    back = import_file(config_a, feed_a, [], NOW)
    assert (back.added, back.updated, back.unchanged, back.skipped) == (0, 0, 23, 0)


def test_older_copy_is_skipped(tmp_path: Path, sqlite_url: str) -> None:
    fill_one_line_titles(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    publish(config, NOW)
    old_feed = tmp_path / "old.ics"
    old_feed.write_bytes((config.calendars_dir / "all.ics").read_bytes())
    with session_scope(sqlite_url) as s:
        ev = s.get(Event, "lagos")
        assert ev is not None
        ev.title, ev.sequence, ev.modified_at = "Lagos briefing (moved)", 3, NOW
    report = import_file(config, old_feed, [], NOW)
    assert (report.updated, report.skipped) == (0, 1)
    assert "our copy is newer" in report.notes[0]
    with session_scope(sqlite_url) as s:
        assert s.get(Event, "lagos").title == "Lagos briefing (moved)"  # type: ignore[union-attr]


def test_unknown_tzid_is_skipped_with_a_note(config: object, tmp_path: Path) -> None:
    text = GOOGLE.read_bytes().replace(b"TZID=America/Halifax", b"TZID=Atlantis Standard Time")
    report = import_file(config, _write(tmp_path, "x.ics", text), [], NOW)  # type: ignore[arg-type]
    assert report.added == 5 and report.skipped == 1
    assert any("Atlantis Standard Time" in n for n in report.notes)


def test_bad_series_option_is_refused(cli: Cli) -> None:
    result = cli("import", "ics", str(GOOGLE), "--series", "Not A Tag!")
    assert result.exit_code == 2 and "--series" in result.stderr


def test_import_is_one_transaction(config: object, tmp_path: Path) -> None:
    text = OUTLOOK.read_bytes().replace(b"END:VCALENDAR", (
        b"BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20240901T080000Z\r\nDTSTART:20241014T100000Z\r\n"
        b"SUMMARY:late\r\nX-TRACKER-KIND:registration\r\nX-TRACKER-OPENS:20241020T100000Z\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR"))
    with pytest.raises(TrackerError, match=r"y\.ics: VEVENT x: X-TRACKER-OPENS: 2024-10-20T12:00:00"
                       r"\+02:00 is not before the due time"):
        import_file(config, _write(tmp_path, "y.ics", text), [], NOW)  # type: ignore[arg-type]
    with session_scope(config.database_url) as s:  # type: ignore[attr-defined]
        assert s.scalar(select(func.count()).select_from(Event)) == 0


@pytest.mark.parametrize("change,where", [
    ((b"URL:https://www.unwomen.org/en/csw/csw69-2025", b"URL:see the UN Women site"),
     "URL: 'see the UN Women site' is not a web address"),
    ((b"UID:halifax-call-2024@google.com", b"UID:halifax-call-2024@google.com\r\n"
      b"X-TRACKER-MODE:by carrier pigeon"), "X-TRACKER-MODE: 'by carrier pigeon' is not accepted"),
], ids=["url", "mode"])
def test_items_go_through_the_records_checks_and_name_file_uid_property(
    cli: Cli, tmp_path: Path, change: tuple[bytes, bytes], where: str
) -> None:
    data = GOOGLE.read_bytes()
    assert change[0] in data
    path = _write(tmp_path, "export.ics", data.replace(*change))
    result = cli("import", "ics", str(path))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: VEVENT "), lines
    assert where in lines[0]
    assert json.loads(cli.ok("event", "list", "--json").output) == []
