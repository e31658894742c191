"""Delete for mistakes, lists that agree (--upcoming/--all/--series), warnings for the past."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.test_cli import dump
from tests.helpers.cli import Cli
from tests.helpers.feedcheck import read_icalendar


def iso_z(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def ids(cli: Cli, *args: str) -> list[str]:
    return [r["id"] for r in json.loads(cli.ok(*args, "--json").stdout)]


def test_deadline_delete_drops_pending_reminders_and_keeps_sent_history(
    cli: Cli, tmp_path: Path
) -> None:
    """A real round sends the 2h reminder; deleting the deadline drops the 30m one still
    pending, while the sent one stays counted in `remind status`."""
    now = datetime.now(UTC)
    cli.ok("member", "add", "amina@example.org", "--tz", "Africa/Lagos")
    cli.ok("deadline", "add", "Register", "--due", iso_z(now + timedelta(hours=1)),
           "--remind", "2h,30m", "--id", "reg")
    cli.ok("remind", "send-due")
    status = cli.ok("remind", "status").stdout
    assert "sent     1" in status and "pending  1" in status, status
    out = cli.ok("deadline", "delete", "reg", "--yes").stdout
    assert out.strip() == "deleted deadline reg; 1 pending reminders dropped"
    status = cli.ok("remind", "status").stdout
    assert "sent     1" in status and "pending  0" in status, status
    assert ids(cli, "deadline", "list") == []
    assert cli("deadline", "show", "reg").exit_code == 2


def test_event_delete_takes_its_deadlines_and_leaves_the_feeds(cli: Cli, tmp_path: Path) -> None:
    cli.ok("event", "add", "Typo meeting", "--start", "2031-05-05 10:00", "--id", "typo",
           "--repeat", "weekly", "--count", "3")
    cli.ok("event", "cancel", "typo", "--on", "2031-05-12")
    cli.ok("deadline", "add", "Typo registration", "--due", "2031-05-01", "--event", "typo",
           "--id", "typo-reg")
    cli.ok("event", "add", "Real meeting", "--start", "2031-05-06 10:00", "--id", "real")
    out = tmp_path / "cal"
    cli.ok("publish", "--out", str(out))
    assert len(read_icalendar((out / "all.ics").read_bytes())) == 3
    done = cli.ok("event", "delete", "typo", "--yes").stdout.strip()
    assert done == "deleted event typo and its deadlines typo-reg"
    assert ids(cli, "event", "list") == ["real"] and ids(cli, "deadline", "list") == []
    cli.ok("publish", "--out", str(out))
    assert list(read_icalendar((out / "all.ics").read_bytes())) == [
        "real.event@tracker.example.org"]
    assert dump(cli.config_file)["occurrence_changes"] == []  # the config's store, any kind


def test_delete_without_a_terminal_needs_yes_and_writes_nothing(cli: Cli) -> None:
    cli.ok("event", "add", "Kept", "--start", "2031-05-06 10:00", "--id", "kept")
    before = dump(cli.config_file)
    for args in (["event", "delete", "kept"], ["deadline", "delete", "nope"]):
        result = cli(*args)
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1
    assert cli("event", "delete", "kept").stderr.startswith("error: --yes: is needed")
    assert dump(cli.config_file) == before


def _on_terminal(config_file: Path, answer: str, *args: str) -> tuple[int, str]:
    """Run the real `tracker` with a pseudo-terminal as stdin, answering the question."""
    exe = Path(sys.executable).with_name("tracker")
    main, child = pty.openpty()
    proc = subprocess.Popen([str(exe), "--config", str(config_file), *args], stdin=child,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(child)
    os.write(main, answer.encode() + b"\n")
    out, err = proc.communicate(timeout=60)
    os.close(main)
    return proc.returncode, out.decode() + err.decode()


def test_delete_asks_on_a_terminal(cli: Cli) -> None:
    cli.ok("deadline", "add", "Fee", "--due", "2031-05-01", "--id", "fee")
    code, text = _on_terminal(cli.config_file, "n", "deadline", "delete", "fee")
    assert code == 2 and "nothing was deleted" in text, text
    assert ids(cli, "deadline", "list") == ["fee"]
    code, text = _on_terminal(cli.config_file, "y", "deadline", "delete", "fee")
    assert code == 0 and "deleted deadline fee" in text, text
    assert ids(cli, "deadline", "list") == []


def test_upcoming_hides_cancelled_and_all_shows_them(cli: Cli) -> None:
    cli.ok("event", "add", "On", "--start", "2031-05-06 10:00", "--id", "on")
    cli.ok("event", "add", "Off", "--start", "2031-05-07 10:00", "--id", "off")
    cli.ok("event", "cancel", "off")
    cli.ok("event", "add", "Weekly", "--start", "2031-05-05 09:00", "--repeat", "weekly",
           "--count", "2", "--id", "weekly")
    cli.ok("event", "cancel", "weekly", "--on", "2031-05-12")
    cli.ok("deadline", "add", "Open", "--due", "2031-04-01", "--id", "open-dl")
    cli.ok("deadline", "add", "Gone", "--due", "2031-04-02", "--id", "gone-dl")
    cli.ok("deadline", "cancel", "gone-dl")
    assert ids(cli, "event", "list", "--upcoming") == ["weekly", "on"]
    rows = json.loads(cli.ok("event", "list", "--upcoming", "--all", "--json").stdout)
    assert [(r["id"], r["status"]) for r in rows] == [
        ("weekly", "confirmed"), ("on", "confirmed"), ("off", "cancelled"),
        ("weekly", "cancelled")]
    assert len(ids(cli, "event", "list")) == 4  # without --upcoming: everything, as before
    assert ids(cli, "deadline", "list", "--upcoming") == ["open-dl"]
    assert ids(cli, "deadline", "list", "--upcoming", "--all") == ["open-dl", "gone-dl"]
    assert ids(cli, "deadline", "list") == ["open-dl", "gone-dl"]


def test_deadline_list_by_series_includes_the_events_tags(cli: Cli) -> None:
    cli.ok("event", "add", "CCPCJ 40", "--start", "2031-05-12", "--series", "ccpcj",
           "--id", "ccpcj40")
    cli.ok("deadline", "add", "Side events", "--due", "2031-03-01", "--event", "ccpcj40",
           "--id", "side")
    cli.ok("deadline", "add", "Statement", "--due", "2031-04-01", "--series", "ccpcj",
           "--id", "statement")
    cli.ok("deadline", "add", "Fee", "--due", "2031-02-01", "--series", "informal", "--id", "fee")
    assert ids(cli, "deadline", "list", "--series", "ccpcj") == ["side", "statement"]
    assert ids(cli, "deadline", "list", "--series", "informal") == ["fee"]


def test_adding_or_moving_into_the_past_warns_but_works(cli: Cli) -> None:
    added = cli.ok("event", "add", "Held", "--start", "2020-01-13 15:00", "--id", "held")
    assert "warning: event held is in the past" in added.stderr
    quiet = cli.ok("event", "add", "Future", "--start", "2031-01-13 15:00", "--id", "future")
    assert quiet.stderr == ""
    moved = cli.ok("event", "edit", "future", "--start", "2021-01-13 15:00")
    assert "warning: event future is in the past" in moved.stderr
    assert cli.ok("event", "edit", "future", "--title", "Renamed").stderr == ""
    due = cli.ok("deadline", "add", "Late", "--due", "2020-01-01", "--id", "late")
    assert "warning: deadline late is in the past" in due.stderr
    assert "no reminders" in due.stderr
    assert ids(cli, "deadline", "list") == ["late"]
    back = cli.ok("deadline", "edit", "late", "--due", "2031-01-01")
    assert back.stderr == ""
