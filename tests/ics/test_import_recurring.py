"""`tracker import ics` brings recurring items in as recurring events (RRULE, EXDATE, RDATE,
RECURRENCE-ID overrides, cancelled instances), and our feed then expands, in all three
parsers, to the same instants as the file did."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import icalendar
import recurring_ical_events

from tests.helpers.cli import Cli, second_cli
from tests.helpers.feedcheck import Occ, _norm, occurrences_all

DATA = Path(__file__).parent / "data"
GOOGLE = DATA / "google_recurring.ics"
OUTLOOK = DATA / "outlook_recurring.ics"
LO = datetime(2026, 1, 1, tzinfo=UTC)
HI = datetime(2030, 1, 1, tzinfo=UTC)


def source_occurrences(path: Path) -> list[Occ]:
    """The file's own occurrences (not cancelled), expanded by recurring-ical-events."""
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    found = [Occ(str(e["UID"]), _norm(e["DTSTART"].dt), _norm(e["DTEND"].dt))  # type: ignore[arg-type]
             for e in recurring_ical_events.of(cal).between(LO, HI)
             if str(e.get("STATUS", "")) != "CANCELLED"]
    return sorted(found, key=lambda o: (o.uid, o.start.isoformat()))


def test_google_and_outlook_recurring_items_are_imported(cli: Cli, tmp_path: Path) -> None:
    out = cli.ok("import", "ics", str(GOOGLE), "--series", "csw").output
    assert "2 added, 0 updated, 0 unchanged, 0 skipped" in out, out
    out = cli.ok("import", "ics", str(OUTLOOK)).output
    assert "1 added, 0 updated, 0 unchanged, 0 skipped" in out, out
    listed = json.loads(cli.ok("event", "list", "--json").output)
    briefing = [r for r in listed if r["uid"] == "monthly-briefing@google.com"]
    assert {r["repeat"] for r in briefing} == {"FREQ=MONTHLY;UNTIL=20271231T235959Z;BYDAY=1WE"}
    assert briefing[0]["tz"] == "America/New_York"
    by_day = {r["occurrence"]: r for r in briefing}
    assert by_day["2027-02-03"]["status"] == "cancelled"  # EXDATE
    assert by_day["2027-03-17"]["start_utc"] == "2027-03-17T13:00:00Z"  # RDATE, EDT
    assert by_day["2027-03-03"]["start_utc"] == "2027-03-10T16:00:00Z"  # moved, still EST
    assert by_day["2027-11-03"]["status"] == "cancelled"
    assert by_day["2027-12-01"]["start_utc"] == "2027-12-01T14:00:00Z"  # EST again

    feeds = tmp_path / "cal"
    cli.ok("publish", "--out", str(feeds))
    ours = occurrences_all(feeds / "all.ics", LO, HI)
    want = source_occurrences(GOOGLE) + source_occurrences(OUTLOOK)
    assert ours == sorted(want, key=lambda o: (o.uid, o.start.isoformat()))
    fee = [o.start for o in ours if o.uid == "fee-day@google.com"]
    assert fee == [date(2027, 3, 1), date(2028, 3, 1), date(2029, 3, 1)]


def test_reimporting_a_recurring_file_changes_nothing(cli: Cli) -> None:
    cli.ok("import", "ics", str(GOOGLE))
    cli.ok("import", "ics", str(OUTLOOK))
    first = cli.ok("event", "list", "--json").output
    again = cli.ok("import", "ics", str(GOOGLE)).output
    assert "0 added, 0 updated, 2 unchanged, 0 skipped" in again, again
    again = cli.ok("import", "ics", str(OUTLOOK)).output
    assert "0 added, 0 updated, 1 unchanged, 0 skipped" in again, again
    assert cli.ok("event", "list", "--json").output == first


def test_a_later_export_moving_one_more_occurrence_updates_it(cli: Cli, tmp_path: Path) -> None:
    cli.ok("import", "ics", str(OUTLOOK))
    text = OUTLOOK.read_text(encoding="utf-8").replace("SEQUENCE:0", "SEQUENCE:1")
    text = text.replace("END:VCALENDAR", "\r\n".join([
        "BEGIN:VEVENT", "DTSTART;TZID=W. Europe Standard Time:20270420T090000",
        "DTEND;TZID=W. Europe Standard Time:20270420T100000",
        "RECURRENCE-ID;TZID=W. Europe Standard Time:20270420T150000",
        "DTSTAMP:20261121T120000Z", "SEQUENCE:1", "SUMMARY:Weekly coordination (Outlook)",
        "UID:040000008200E00074C5B7101A82E008000000009A1B", "END:VEVENT", "END:VCALENDAR"]))
    later = tmp_path / "later.ics"
    later.write_text(text, encoding="utf-8")
    out = cli.ok("import", "ics", str(later)).output
    assert "0 added, 1 updated" in out, out
    rows = json.loads(cli.ok("event", "list", "--json").output)
    moved = {r["occurrence"]: r["start_utc"] for r in rows if r["moved"]}
    assert moved == {"2027-04-06": "2027-04-06T15:00:00Z", "2027-04-20": "2027-04-20T07:00:00Z"}


def test_our_own_recurring_feed_round_trips(cli: Cli, tmp_path: Path, second_store: str) -> None:
    from tests.feeds.test_recurring_feeds import build_season

    build_season(cli)
    feeds = tmp_path / "cal"
    cli.ok("publish", "--out", str(feeds))
    other = second_cli(cli, "other", second_store)
    out = other.ok("import", "ics", str(feeds / "all.ics")).output
    assert "8 added, 0 updated, 0 unchanged, 0 skipped" in out, out

    def view(runner: Cli) -> list[tuple[object, ...]]:
        rows = json.loads(runner.ok("event", "list", "--json").output)
        return sorted((r["uid"], r["repeat"], r["tz"], r["occurrence"], r["start_utc"],
                       r["end_utc"], r["status"], r["moved"]) for r in rows)

    assert view(other) == view(cli)
