"""The issue's CLI cases: 'D midnight' deadlines, legacy zone names, member mail vs active."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import icalendar

from tests.cli.test_cli import dump
from tests.helpers.cli import Cli
from tests.helpers.feedcheck import read_all


def test_deadline_due_midnight_is_listed_and_published_inside_its_day(cli: Cli) -> None:
    cli.ok("deadline", "add", "Names of delegates", "--due", "9 May 2025 midnight", "--id", "names",
           "--url", "https://indico.un.org/")
    table = cli.ok("deadline", "list").stdout
    assert "end of Fri 9 May 2025" in table and "Sat 10 May" not in table
    data = json.loads(cli.ok("deadline", "show", "names", "--json").stdout)
    assert data["due"] == "2025-05-09T23:59:00+02:00" and data["due_date"] == "2025-05-09"
    out = cli.config_file.parent / "calendars"
    cli.ok("publish", "--out", str(out))
    got = read_all(out / "deadlines.ics")
    (uid,) = [u for u in got if u.startswith("names.")]
    start, end = got[uid].start, got[uid].end
    assert isinstance(start, datetime) and isinstance(end, datetime)
    assert start == datetime(2025, 5, 9, 21, 59, tzinfo=UTC)  # inside 9 May in Vienna
    assert end == datetime(2025, 5, 9, 22, 0, tzinfo=UTC)  # ends at its local midnight
    # an extension to "12 May midnight" sits inside 12 May and says where it came from
    cli.ok("deadline", "edit", "names", "--due", "12 May 2025 24:00")
    assert "end of Mon 12 May 2025" in cli.ok("deadline", "list").stdout
    cli.ok("publish", "--out", str(out))
    got = read_all(out / "deadlines.ics")
    assert got[uid].start == datetime(2025, 5, 12, 21, 59, tzinfo=UTC)
    cal = icalendar.Calendar.from_ical((out / "deadlines.ics").read_bytes())
    (event,) = [e for e in cal.walk("VEVENT") if str(e["UID"]) == uid]
    assert ("Due: end of Mon 12 May 2025 (Europe/Vienna); extended from Fri 9 May 2025"
            in str(event["DESCRIPTION"]))
    shown = json.loads(cli.ok("deadline", "show", "names", "--json").stdout)
    assert shown["status"] == "extended" and shown["due_date"] == str(date(2025, 5, 12))


def test_legacy_zone_name_is_refused_with_city_zones(cli: Cli) -> None:
    cli.ok("event", "add", "Seed", "--start", "2025-01-01")
    before = dump(cli.config_file)
    result = cli("deadline", "add", "Statement", "--due", "2025-07-15 10:00", "--tz", "EST")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "--tz" in line
    assert "America/New_York" in line and "America/Panama" in line
    assert "Traceback" not in result.output
    assert dump(cli.config_file) == before
    assert cli("member", "add", "a@example.org", "--tz", "CET").exit_code == 2


def test_member_mail_and_active_flags(cli: Cli) -> None:
    cli.ok("member", "add", "amina@example.org", "--name", "Amina", "--tz", "Africa/Lagos")
    shown = json.loads(cli.ok("member", "show", "amina@example.org", "--json").stdout)
    assert (shown["active"], shown["mail"]) == (True, True)
    cli.ok("member", "edit", "amina@example.org", "--no-mail")
    shown = json.loads(cli.ok("member", "show", "amina@example.org", "--json").stdout)
    assert (shown["active"], shown["mail"]) == (True, False)
    text = cli.ok("member", "show", "amina@example.org").stdout
    assert "mail" in text and "False" in text
    cli.ok("member", "edit", "amina@example.org", "--inactive")
    listed = json.loads(cli.ok("member", "list", "--json").stdout)
    assert (listed[0]["active"], listed[0]["mail"]) == (False, False)
    cli.ok("member", "edit", "amina@example.org", "--active")
    listed = json.loads(cli.ok("member", "list", "--json").stdout)
    assert (listed[0]["active"], listed[0]["mail"]) == (True, True)
    assert "MAIL" in cli.ok("member", "list").stdout


def test_help_names_both_flags(cli: Cli) -> None:
    text = cli.ok("member", "edit", "--help").stdout
    assert "--mail / --no-mail" in text and "--active / --inactive" in text
