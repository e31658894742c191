"""The secretary's CLI end to end on a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import Cli, dump


def load(result_output: str) -> object:
    return json.loads(result_output)


@pytest.fixture
def cop(cli: Cli) -> Cli:
    cli.ok("event", "add", "COP12", "--start", "2024-10-14", "--end", "2024-10-18",
           "--series", "untoc-cop", "--id", "cop12", "--location", "VIC, Plenary")
    cli.ok("deadline", "add", "List of speakers", "--kind", "speakers-list", "--event", "cop12",
           "--opens", "2024-09-02", "--due", "14 Oct 2024 noon", "--id", "speakers")
    cli.ok("deadline", "add", "Registration", "--kind", "registration", "--event", "cop12",
           "--due", "2024-10-04", "--id", "reg", "--remind", "7d,1d,2h")
    return cli


def test_json_fields_of_deadlines(cop: Cli) -> None:
    data = load(cop.ok("deadline", "list", "--json").stdout)
    by_id = {d["id"]: d for d in data}
    sp = by_id["speakers"]
    assert sp["due"] == "2024-10-14T12:00:00+02:00"
    assert sp["due_utc"] == "2024-10-14T10:00:00Z"
    assert sp["tz"] == "Europe/Vienna" and sp["kind"] == "speakers-list"
    assert sp["event"] == "cop12" and sp["status"] == "open" and sp["title"] == "List of speakers"
    assert sp["opens"] == "2024-09-02" and sp["opens_utc"] == "2024-09-01T22:00:00Z"
    reg = by_id["reg"]  # a date means the end of that day in its zone
    assert reg["due"] == "2024-10-04T23:59:00+02:00" and reg["due_date"] == "2024-10-04"
    assert reg["remind"] == "7d,1d,2h"
    assert [d["id"] for d in data] == ["reg", "speakers"]  # by due time


def test_json_fields_of_events(cop: Cli) -> None:
    cop.ok("event", "add", "Informal meeting", "--start", "14 Jan 2025 15:00", "--end", "16:30",
           "--series", "informal", "--mode", "online", "--id", "informal-jan")
    data = {e["id"]: e for e in load(cop.ok("event", "list", "--json").stdout)}
    cop12 = data["cop12"]
    assert cop12["all_day"] is True and cop12["start"] == "2024-10-14"
    assert cop12["end"] == "2024-10-18" and cop12["start_utc"] == "2024-10-13T22:00:00Z"
    assert cop12["end_utc"] == "2024-10-18T22:00:00Z" and cop12["series"] == ["untoc-cop"]
    informal = data["informal-jan"]
    assert informal["start"] == "2025-01-14T15:00:00+01:00"
    assert informal["end"] == "2025-01-14T16:30:00+01:00"
    assert informal["start_utc"] == "2025-01-14T14:00:00Z" and informal["all_day"] is False
    shown = load(cop.ok("event", "show", "cop12", "--json").stdout)
    assert shown["deadlines"] == ["reg", "speakers"]


def test_table_shows_own_zone(cli: Cli) -> None:
    cli.ok("deadline", "add", "Tokyo deadline", "--due", "7 Mar 2021 19:00", "--tz", "Asia/Tokyo")
    cli.ok("deadline", "add", "Vienna deadline", "--due", "14 Oct 2024 12:00")
    out = cli.ok("deadline", "list").stdout
    assert "Sun 07 Mar 2021 19:00 JST" in out and "Mon 14 Oct 2024 12:00 CEST" in out
    assert out.splitlines()[0].split()[:3] == ["ID", "DUE", "(own"]


def test_deadline_takes_event_zone(cli: Cli) -> None:
    cli.ok("event", "add", "Crime Congress", "--start", "2021-03-07", "--end", "2021-03-12",
           "--tz", "Asia/Tokyo", "--id", "congress14")
    cli.ok("deadline", "add", "Congress registration", "--event", "congress14",
           "--due", "1 Mar 2021 17:00", "--id", "c-reg")
    data = load(cli.ok("deadline", "show", "c-reg", "--json").stdout)
    assert data["tz"] == "Asia/Tokyo" and data["due_utc"] == "2021-03-01T08:00:00Z"


def test_edit_bumps_sequence_only_on_change(cop: Cli) -> None:
    before = load(cop.ok("deadline", "show", "reg", "--json").stdout)
    assert before["sequence"] == 0
    assert "nothing changed" in cop.ok("deadline", "edit", "reg", "--due", "2024-10-04").stdout
    out = cop.ok("deadline", "edit", "reg", "--due", "2024-10-11").stdout
    assert "changed due_utc, due_date, status" in out
    after = load(cop.ok("deadline", "show", "reg", "--json").stdout)
    assert after["sequence"] == 1 and after["status"] == "extended"
    assert after["due"] == "2024-10-11T23:59:00+02:00" and after["uid"] == before["uid"]
    cop.ok("event", "edit", "cop12", "--start", "2024-10-15")  # keeps its five days
    event = load(cop.ok("event", "show", "cop12", "--json").stdout)
    assert (event["start"], event["end"], event["sequence"]) == ("2024-10-15", "2024-10-19", 1)


def test_edit_zone_alone_keeps_wall_clock(cli: Cli) -> None:
    cli.ok("deadline", "add", "Wrong zone", "--due", "14 Oct 2024 12:00", "--id", "wz")
    cli.ok("deadline", "edit", "wz", "--tz", "America/New_York")
    data = load(cli.ok("deadline", "show", "wz", "--json").stdout)
    assert data["due"] == "2024-10-14T12:00:00-04:00" and data["tz"] == "America/New_York"


def test_cancel_event_cancels_its_deadlines(cop: Cli) -> None:
    out = cop.ok("event", "cancel", "cop12").stdout
    assert "reg" in out and "speakers" in out
    data = load(cop.ok("deadline", "list", "--json").stdout)
    assert {d["status"] for d in data} == {"cancelled"}
    assert all(d["sequence"] == 1 for d in data)
    assert load(cop.ok("deadline", "list", "--upcoming", "--json").stdout) == []


def test_edit_status_cancelled_also_cancels_deadlines(cop: Cli) -> None:
    cop.ok("event", "edit", "cop12", "--status", "cancelled")
    data = load(cop.ok("deadline", "list", "--json").stdout)
    assert {d["status"] for d in data} == {"cancelled"}
    assert load(cop.ok("event", "show", "cop12", "--json").stdout)["status"] == "cancelled"


def test_filters(cop: Cli) -> None:
    cop.ok("deadline", "add", "Fee", "--kind", "payment", "--due", "2030-01-31", "--id", "fee")
    assert [d["id"] for d in load(cop.ok("deadline", "list", "--kind", "payment",
                                          "--json").stdout)] == ["fee"]
    assert [d["id"] for d in load(cop.ok("deadline", "list", "--event", "cop12",
                                          "--json").stdout)] == ["reg", "speakers"]
    assert [d["id"] for d in load(cop.ok("deadline", "list", "--upcoming",
                                          "--json").stdout)] == ["fee"]


BAD_INPUTS = [
    (["event", "add", "X", "--start", "2024-10-14 12:00", "--tz", "Mars/Base"], "--tz",
     "unknown time zone"),
    (["event", "add", "X", "--start", "2024-10-14 12:00", "--tz", "GMT+1"], "--tz",
     "fixed offset"),
    (["event", "add", "X", "--start", "31/02/2024"], "--start", "not a real date"),
    (["event", "add", "X", "--start", "2024-03-31 02:30"], "--start", "does not exist"),
    (["event", "add", "X", "--start", "2024-10-14 12:00", "--end", "2024-10-14 11:00"], "--end",
     "not after the start"),
    (["event", "add", "X", "--start", "2024-10-18", "--end", "2024-10-14"], "--end",
     "before the start"),
    (["event", "add", "X", "--start", "2024-10-14", "--id", "cop12"], "--id", "exists"),
    (["event", "add", "X", "--start", "2024-10-14", "--id", "Bad Id!"], "--id",
     "not a valid id"),
    (["event", "add", "X", "--start", "2024-10-14", "--mode", "telepathy"], "--mode",
     "in-person, online, hybrid"),
    (["event", "add", "X", "--start", "2024-10-14", "--url", "indico"], "--url",
     "not a web address"),
    (["event", "show", "nope"], "ID", "no event with id 'nope'; see `tracker event list`"),
    (["event", "edit", "nope", "--title", "Y"], "ID", "no event"),
    (["event", "add", "X", "--start", "2024-10-14", "--all-day", "--end", "2024-10-15 10:00"],
     "--end", "must be a date"),
    (["event", "add", "X", "--start", "2024-10-14 10:00", "--all-day"], "--all-day",
     "needs dates"),
    (["deadline", "add", "X", "--due", "2024-10-04", "--event", "nope"], "--event", "no event"),
    (["deadline", "add", "X", "--due", "2024-10-04", "--id", "reg"], "--id", "exists"),
    (["deadline", "add", "X", "--due", "2024-10-04", "--kind", "party"], "--kind",
     "registration, speakers-list"),
    (["deadline", "add", "X", "--due", "2024-10-04", "--remind", "14d,soon"], "--remind",
     "not an offset"),
    (["deadline", "add", "X", "--due", "2024-10-04", "--opens", "2024-10-05"], "--opens",
     "not before the due time"),
    (["deadline", "add", "X", "--due", "2024-10-04", "--email", "not-an-address"], "--email",
     "not an e-mail address"),
    (["deadline", "add", "", "--due", "2024-10-04"], "TITLE", "is empty"),
    (["deadline", "edit", "reg", "--due", "2024-03-31 02:30"], "--due", "does not exist"),
    (["deadline", "cancel", "nope"], "ID", "no deadline"),
    (["deadline", "list", "--kind", "party"], "--kind", "registration"),
    (["event", "add", "X", "--start", "2024-10-14 10:00", "--repeat", "sometimes"], "--repeat",
     "daily, weekly, fortnightly, monthly"),
    (["event", "add", "X", "--start", "2024-10-14 10:00", "--repeat", "FREQ=MONTHLY;BYDAY=9MO"],
     "--repeat", "out of range"),
    (["event", "add", "X", "--start", "2024-10-15 10:00", "--repeat", "FREQ=MONTHLY;BYDAY=2MO"],
     "--start", "is not an occurrence of 'FREQ=MONTHLY;BYDAY=2MO'; start on the first one"),
    (["event", "add", "X", "--start", "2024-10-14 10:00", "--until", "2024-12-31"], "--repeat",
     "is needed with until or count"),
    (["event", "add", "X", "--start", "2024-10-14 10:00", "--repeat", "weekly", "--until",
      "2024-12-31", "--count", "3"], "--count", "either an end (until) or a count"),
    (["event", "add", "X", "--start", "2024-10-14 10:00", "--repeat", "weekly", "--until",
      "2024-10-01"], "--until", "before the first occurrence"),
    (["event", "cancel", "cop12", "--on", "2024-10-15"], "--on", "not a recurring event"),
    (["event", "cancel", "weekly", "--on", "2024-10-15"], "--on", "no occurrence on Tue 15 Oct"),
    (["event", "cancel", "weekly", "--on", "2024-10-21"], "--on", "already cancelled"),
    (["event", "edit", "weekly", "--on", "2024-10-28", "--title", "Y"], "--title",
     "cannot change with --on"),
    (["event", "edit", "weekly", "--on", "2024-10-28", "--start", "2024-10-28 09:00",
      "--end", "08:00"], "--end", "is not after the start"),
    (["member", "add", "bad@", "--tz", "Africa/Lagos"], "EMAIL", "not an e-mail address"),
    (["member", "add", "a@example.org", "--tz", "Lagos"], "--tz", "did you mean Africa/Lagos"),
    (["member", "add", "a@example.org", "--remind", "1y"], "--remind", "not an offset"),
    (["member", "add", "a@example.org", "--kind", "party"], "--kind", "registration"),
    (["member", "add", "Known@Example.org"], "EMAIL", "already a member; use `tracker member edit`"),
    (["member", "add", "a@example.org", "--org", "A\x07B"], "--org", "control characters"),
    (["member", "edit", "nobody@example.org", "--name", "X"], "EMAIL", "no member"),
    (["member", "remove", "nobody@example.org"], "EMAIL", "no member"),
]


@pytest.mark.parametrize("args,field,message", BAD_INPUTS,
                         ids=[" ".join(a[:2]) + f" {f} {m}" for a, f, m in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    cop: Cli, args: list[str], field: str, message: str
) -> None:
    cop.ok("member", "add", "known@example.org", "--tz", "Africa/Lagos")
    cop.ok("event", "add", "Weekly", "--start", "14 Oct 2024 10:00", "--repeat", "weekly",
           "--id", "weekly")
    cop.ok("event", "cancel", "weekly", "--on", "2024-10-21")
    before = dump(cop.config_file)
    result = cop(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {field}: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert dump(cop.config_file) == before


@pytest.mark.parametrize("args,message", [
    (["event", "add"], "Missing argument 'TITLE'"),
    (["event", "add", "X", "--bogus"], "No such option '--bogus'"),
    (["evnt"], "No such command 'evnt'"),
], ids=["missing", "option", "command"])
def test_usage_errors_are_one_line(cli: Cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_bare_command_shows_help() -> None:
    from click.testing import CliRunner

    from tracker.cli.main import main

    result = CliRunner().invoke(main, [])
    assert result.exit_code == 0 and "Usage:" in result.stdout and "event" in result.stdout


def test_member_lifecycle(cli: Cli) -> None:
    cli.ok("member", "add", "Amina@Example.org", "--name", "Amina Bello", "--tz", "Africa/Lagos",
           "--series", "untoc-cop", "--series", "ccpcj", "--remind", "1d,7d")
    data = load(cli.ok("member", "show", "amina@example.org", "--json").stdout)
    assert data["email"] == "amina@example.org" and data["series"] == ["untoc-cop", "ccpcj"]
    assert data["remind"] == "7d,1d" and data["active"] is True
    assert data["feed_url"].startswith("https://tracker.example.org/feeds/")
    token = data["feed_url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) >= 32  # 192 bits, URL-safe
    out = cli.ok("member", "edit", "amina@example.org", "--rotate-token").stdout
    rotated = load(cli.ok("member", "show", "amina@example.org", "--json").stdout)
    assert rotated["feed_url"] != data["feed_url"] and rotated["feed_url"] in out
    cli.ok("member", "edit", "amina@example.org", "--inactive", "--remind", "default")
    data = load(cli.ok("member", "show", "amina@example.org", "--json").stdout)
    assert data["active"] is False and data["remind"] is None
    assert "removed" in cli.ok("member", "remove", "amina@example.org").stdout
    assert load(cli.ok("member", "list", "--json").stdout) == []


CSV_GOOD = (
    "email,name,organisation,tz,series,remind\n"
    "amina@example.org,Amina Bello,Lagos Forum,Africa/Lagos,untoc-cop ccpcj,\n"
    "imran@example.org,Imran Qureshi,Karachi Aid,Asia/Karachi,,7d,1d\n"
)


def test_member_import_adds_then_updates(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_text(CSV_GOOD.replace(",7d,1d\n", ',"7d,1d"\n'), encoding="utf-8")
    assert "2 added, 0 updated" in cli.ok("member", "import", str(path)).stdout
    path.write_text(
        "email,name,organisation,tz,series,remind\n"
        "AMINA@example.org,Amina Bello,Lagos Forum,Africa/Lagos,untoc-cop,\n"
        "claire@example.org,Claire B,Halifax,America/Halifax,,\n", encoding="utf-8")
    assert "1 added, 1 updated, 0 unchanged" in cli.ok("member", "import", str(path)).stdout
    members = {m["email"]: m for m in load(cli.ok("member", "list", "--json").stdout)}
    assert set(members) == {"amina@example.org", "imran@example.org", "claire@example.org"}
    assert members["amina@example.org"]["series"] == ["untoc-cop"]
    assert members["imran@example.org"]["remind"] == "7d,1d"


@pytest.mark.parametrize("rows,where", [
    ("ok@example.org,A,B,Africa/Lagos,,\nbad-address,A,B,Africa/Lagos,,\n", "line 3: email: "),
    ("ok@example.org,A,B,Africa/Lagos,,\nx@example.org,A,B,Moon/Base,,\n", "line 3: tz: "),
    ("ok@example.org,A,B,Africa/Lagos,,2 days\n", "line 2: remind: "),
    ("ok@example.org,A,B,Africa/Lagos,,\nOK@example.org,A,B,Africa/Lagos,,\n", "line 3: email: "),
    ("ok@example.org,A,B,Africa/Lagos,,,extra\n", "line 2: columns: "),
], ids=["email", "zone", "offsets", "duplicate", "columns"])
def test_member_import_bad_row_writes_nothing(cli: Cli, tmp_path: Path, rows: str,
                                              where: str) -> None:
    path = tmp_path / "members.csv"
    path.write_text("email,name,organisation,tz,series,remind\n" + rows, encoding="utf-8")
    before = dump(cli.config_file)
    result = cli("member", "import", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path} {where}"), result.stderr  # the real name
    assert len(result.stderr.strip().splitlines()) == 1
    assert dump(cli.config_file) == before


def test_member_import_bad_header(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_text("mail,name\nx@example.org,X\n", encoding="utf-8")
    result = cli("member", "import", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path} line 1: header: must be email,"), result.stderr


def test_db_option_overrides_config(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    cli.ok("--db", f"sqlite:///{other}", "init")
    cli.ok("--db", f"sqlite:///{other}", "event", "add", "Elsewhere", "--start", "2024-10-14")
    assert len(load(cli.ok("--db", f"sqlite:///{other}", "event", "list", "--json").stdout)) == 1
    assert load(cli.ok("event", "list", "--json").stdout) == []


def test_unknown_config_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[tracker]\ntimezone = "Europe/Vienna"\ncolour = "red"\n', encoding="utf-8")
    result = Cli(path)("event", "list")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: [tracker] colour: unknown key; known keys: timezone, database, base_url")


def test_bad_config_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[reminders]\nlocal_hour = 25\n', encoding="utf-8")
    result = Cli(path)("event", "list")
    assert result.exit_code == 2 and "[reminders] local_hour" in result.stderr


def test_unreachable_database_exits_1(config_file: Path) -> None:
    result = Cli(config_file)("--db", "postgresql+psycopg://postgres@127.0.0.1:9/none",
                              "event", "list")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database: cannot use"), lines


def test_every_command_has_help_with_example() -> None:
    import click

    from tracker.cli.main import main

    def walk(cmd: click.Command, path: str) -> list[tuple[str, click.Command]]:
        found = [(path, cmd)]
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                found += walk(sub, f"{path} {name}")
        return found

    for path, cmd in walk(main, "tracker"):
        if isinstance(cmd, click.Group):
            assert cmd.help, path
        else:
            assert cmd.help and "Example:" in cmd.help, f"{path} has no Example: in its help"


def test_real_process_end_to_end(config_file: Path) -> None:
    """The installed entry point, as the secretary runs it: exit codes and stderr as promised."""
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tracker", "--config", str(config_file),
                               *args], capture_output=True, text=True, timeout=60)

    assert run("init").returncode == 0
    assert run("init").returncode == 0
    added = run("deadline", "add", "Speakers", "--due", "14 Oct 2024 noon", "--id", "sp")
    assert added.returncode == 0 and "2024-10-14T12:00:00+02:00" in added.stdout
    bad = run("deadline", "add", "X", "--due", "2024-03-31 02:30")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "error: --due: 2024-03-31 02:30 does not exist in Europe/Vienna: the clocks skip 60 "
        "minutes that night; give a time outside the gap"]
    listed = json.loads(run("deadline", "list", "--json").stdout)
    assert [d["id"] for d in listed] == ["sp"]


def test_sample_calendar_loads_once(config_file: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "examples" / "cop12.toml"
    cli = Cli(config_file)
    assert "8 events, 5 deadlines, 5 members" in cli.ok("init", "--sample", str(sample)).stdout
    assert "not loaded" in cli.ok("init", "--sample", str(sample)).stdout
    deadlines = {d["id"]: d for d in load(cli.ok("deadline", "list", "--json").stdout)}
    assert deadlines["cop12-speakers"]["due_utc"] == "2024-10-14T10:00:00Z"  # noon Vienna
    assert deadlines["cop12-registration"]["due"] == "2024-10-04T23:59:00+02:00"
    fri = deadlines["cop12-ground-pass-fri"]
    assert (fri["opens"], fri["due"]) == ("2024-10-11T09:00:00+02:00", "2024-10-11T13:00:00+02:00")
    events = {e["id"]: e for e in load(cli.ok("event", "list", "--json").stdout)}
    assert events["cop12-side-cr7"]["end"] == "2024-10-15T13:50:00+02:00"
    assert events["informal-2027-01"]["start"] == "2027-01-14T15:00:00+01:00"  # "GMT+1"
    assert events["informal-2027-04"]["start"] == "2027-04-08T15:00:00+02:00"  # "GMT+2"
