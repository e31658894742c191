"""`tracker remind plan`: every reminder ahead, before any round ran, in both zones, with the
outbox's state; through the CLI on a real SQLite file with a real sending round."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.helpers.cli import Cli


def iso_z(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def test_plan_right_after_deadline_add(cli: Cli) -> None:
    due = (datetime.now(UTC) + timedelta(days=40)).replace(second=0, microsecond=0)
    cli.ok("member", "add", "amina@example.org", "--tz", "Africa/Lagos")
    cli.ok("member", "add", "hal@example.org", "--tz", "America/Halifax", "--remind", "7d,2h")
    cli.ok("member", "add", "off@example.org", "--tz", "Asia/Tokyo", "--series", "ahc")
    cli.ok("deadline", "add", "Register", "--due", iso_z(due), "--id", "reg")
    assert "nothing pending" in cli.ok("remind", "status").stdout  # no round has run yet
    rows = json.loads(cli.ok("remind", "plan", "reg", "--json").stdout)
    got = {(r["member"], r["offset"]): r for r in rows}
    assert set(got) == {("amina@example.org", "14d"), ("amina@example.org", "3d"),
                        ("amina@example.org", "1d"), ("hal@example.org", "7d"),
                        ("hal@example.org", "2h")}  # off@ follows only ahc
    for (email, offset), row in got.items():
        zone = ZoneInfo(row["member_tz"])
        if offset.endswith("h"):
            want = due - timedelta(hours=int(offset[:-1]))
        else:  # N days before the due date as seen in the member's zone, at 09:00 there
            day = due.astimezone(zone).date() - timedelta(days=int(offset[:-1]))
            want = datetime.combine(day, time(9), tzinfo=zone).astimezone(UTC)
        assert row["at_utc"] == want.strftime("%Y-%m-%dT%H:%M:%SZ"), (email, offset)
        assert row["at_member"] == want.astimezone(zone).isoformat()
        assert row["at"] == want.astimezone(ZoneInfo("Europe/Vienna")).isoformat()
        assert row["tz"] == "Europe/Vienna" and row["state"] == "planned"
    assert [r["at_utc"] for r in rows] == sorted(r["at_utc"] for r in rows)
    only = json.loads(cli.ok("remind", "plan", "--member", "hal@example.org", "--json").stdout)
    assert {(r["member"], r["offset"]) for r in only} == {("hal@example.org", "7d"),
                                                         ("hal@example.org", "2h")}
    text = cli.ok("remind", "plan").stdout
    assert "YOUR TIME (Europe/Vienna)" in text and "(Africa/Lagos)" in text


def test_plan_shows_sent_and_queued_after_a_round(cli: Cli) -> None:
    due = datetime.now(UTC) + timedelta(hours=1)
    cli.ok("member", "add", "amina@example.org", "--tz", "Africa/Lagos")
    cli.ok("deadline", "add", "Register", "--due", iso_z(due), "--remind", "2h,30m",
           "--id", "reg")
    assert [r["state"] for r in json.loads(cli.ok("remind", "plan", "--json").stdout)] == [
        "planned", "planned"]
    cli.ok("remind", "send-due")
    rows = json.loads(cli.ok("remind", "plan", "reg", "--json").stdout)
    assert [(r["offset"], r["state"]) for r in rows] == [("2h", "sent"), ("30m", "queued")]


def test_plan_of_unknown_things_is_refused(cli: Cli) -> None:
    for args, field in ((["reg"], "DEADLINE"), (["--member", "x@example.org"], "--member")):
        result = cli("remind", "plan", *args)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"error: {field}: "), result.stderr
