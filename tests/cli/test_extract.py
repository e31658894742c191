"""`tracker extract` end to end on a real SQLite file: review, record, duplicates, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import dump
from tests.extract.test_text import make_docx
from tests.helpers.cli import Cli

MINUTES = """Minutes of the informal meeting of 10 September 2024

COP12 will be held at the Vienna International Centre from 14 to 18 October 2024.

The list of speakers opened on Monday, September 2nd, and will close at noon on Monday,
October 14th. All participants are required to register by October 4th.

Next meeting: Informal Meeting, 12 November 2024, 15:00 - 16:30 (GMT+1)
"""


@pytest.fixture
def minutes(tmp_path: Path) -> Path:
    path = tmp_path / "minutes.txt"
    path.write_text(MINUTES, encoding="utf-8")
    return path


def listed(cli: Cli, noun: str) -> list[dict[str, object]]:
    data = json.loads(cli.ok(noun, "list", "--json").stdout)
    assert isinstance(data, list)
    return data


def test_json_proposals_write_nothing(cli: Cli, minutes: Path) -> None:
    before = dump(cli.config_file)
    data = json.loads(cli.ok("extract", str(minutes), "--json").stdout)
    assert [(p["kind"], p["line"]) for p in data] == [
        ("event", 3), ("speakers-list", 5), ("registration", 6), ("event", 8)]
    speakers = data[1]
    assert speakers["due"] == "2024-10-14T12:00:00+02:00"
    assert speakers["due_utc"] == "2024-10-14T10:00:00Z"
    assert speakers["opens"] == "2024-09-02" and speakers["tz"] == "Europe/Vienna"
    assert speakers["sentence"].startswith("The list of speakers opened")
    meeting = data[3]
    assert meeting["start"] == "2024-11-12T15:00:00+01:00" and meeting["all_day"] is False
    assert meeting["end_utc"] == "2024-11-12T15:30:00Z" and meeting["recorded"] is None
    assert data[0]["all_day"] is True and data[0]["end"] == "2024-10-18"
    assert dump(cli.config_file) == before


def test_accept_all_records_as_the_add_commands_would(cli: Cli, minutes: Path) -> None:
    out = cli.ok("extract", str(minutes), "--accept-all").stdout
    assert "4 added, 0 skipped, 0 already recorded" in out
    deadlines = {d["kind"]: d for d in listed(cli, "deadline")}
    sp = deadlines["speakers-list"]
    assert sp["due_utc"] == "2024-10-14T10:00:00Z" and sp["opens_utc"] == "2024-09-01T22:00:00Z"
    assert deadlines["registration"]["due"] == "2024-10-04T23:59:00+02:00"
    assert "line 6" in str(deadlines["registration"]["instructions"])
    events = {e["title"]: e for e in listed(cli, "event")}
    assert events["COP12"]["all_day"] is True and events["COP12"]["end"] == "2024-10-18"
    assert events["Informal Meeting"]["start_utc"] == "2024-11-12T14:00:00Z"
    assert events["Informal Meeting"]["tz"] == "Europe/Vienna"


def test_a_second_run_marks_everything_as_recorded(cli: Cli, minutes: Path) -> None:
    cli.ok("extract", str(minutes), "--accept-all")
    before = dump(cli.config_file)
    data = json.loads(cli.ok("extract", str(minutes), "--json").stdout)
    assert all(p["recorded"] for p in data), data
    out = cli.ok("extract", str(minutes), "--accept-all").stdout
    assert "0 added, 0 skipped, 4 already recorded" in out
    assert dump(cli.config_file) == before


def test_items_recorded_by_hand_are_recognised(cli: Cli, minutes: Path) -> None:
    """Same kind and instant (any title), or same instant and a like title, is the same item."""
    cli.ok("deadline", "add", "COP12 speakers", "--kind", "speakers-list",
           "--due", "14 Oct 2024 noon", "--id", "speakers")
    cli.ok("event", "add", "informal meeting", "--start", "2024-11-12 15:00", "--end", "16:30",
           "--id", "nov")
    cli.ok("event", "add", "Another meeting", "--start", "2024-10-04", "--id", "other")
    data = json.loads(cli.ok("extract", str(minutes), "--json").stdout)
    assert [p["recorded"] for p in data] == [None, "speakers", None, "nov"]
    out = cli.ok("extract", str(minutes), "--accept-all").stdout
    assert "2 added, 0 skipped, 2 already recorded" in out


def test_interactive_accept_edit_skip(cli: Cli, minutes: Path) -> None:
    answers = "\n".join([
        "s",  # COP12: skip
        "a",  # speakers list: accept
        "e", "registration", "COP12 registration on INDICO", "2024-10-11", "-", "", "",  # edit
        "s",  # meeting: skip
    ]) + "\n"
    result = cli.ok("extract", str(minutes), input=answers)
    assert "[2/4] deadline (speakers-list): List of speakers" in result.stdout
    assert "from:  line 5: The list of speakers opened" in result.stdout
    assert "2 added, 2 skipped, 0 already recorded" in result.stdout
    deadlines = {d["kind"]: d for d in listed(cli, "deadline")}
    assert set(deadlines) == {"speakers-list", "registration"}
    reg = deadlines["registration"]
    assert reg["title"] == "COP12 registration on INDICO"
    assert reg["due"] == "2024-10-11T23:59:00+02:00"
    assert listed(cli, "event") == []


def test_an_edit_that_fails_the_checks_is_asked_again(cli: Cli, minutes: Path) -> None:
    answers = "\n".join([
        "s", "s",
        "e", "registration", "Registration", "31 Feb 2024", "-", "", "",  # impossible date
        "e", "registration", "Registration", "2024-10-05", "-", "Europe/Vienna", "",
        "s",
    ]) + "\n"
    result = cli.ok("extract", str(minutes), input=answers)
    assert "error: due: '31 Feb 2024' is not a real date" in result.stderr
    assert [d["due"] for d in listed(cli, "deadline")] == ["2024-10-05T23:59:00+02:00"]


def test_interrupted_review_writes_nothing(cli: Cli, minutes: Path) -> None:
    before = dump(cli.config_file)
    result = cli("extract", str(minutes), input="a\na\n")  # input ends mid-review
    assert result.exit_code == 1 and "aborted" in result.stderr
    assert dump(cli.config_file) == before


def test_an_unknown_event_id_is_shown_and_asked_again(cli: Cli, minutes: Path) -> None:
    before = dump(cli.config_file)
    answers = "a\na\ne\nregistration\nRegistration\n2024-10-04\n-\n\nnope\n"
    result = cli("extract", str(minutes), input=answers + "s\ns\n")
    # the checks run during review: the error is shown and the question asked again
    assert "error: event: no event with id 'nope'" in result.stderr
    assert result.exit_code == 0
    assert len(listed(cli, "deadline")) == 1 and len(listed(cli, "event")) == 1
    assert dump(cli.config_file) != before


def test_bad_options_exit_2_with_one_line(cli: Cli, minutes: Path, tmp_path: Path) -> None:
    before = dump(cli.config_file)
    result = cli("extract", str(minutes), "--tz", "GMT+1", "--accept-all")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip()] and result.stderr.startswith("error: --tz: 'GMT+1' is a fixed offset")
    undated = tmp_path / "undated.txt"
    undated.write_text("Applications close on 3 March.\n", encoding="utf-8")
    result = cli("extract", str(undated), "--accept-all")
    assert result.exit_code == 2 and result.stderr.startswith("error: --year: line 1: '3 March'")
    assert "Traceback" not in result.output + result.stderr
    assert dump(cli.config_file) == before
    ok = json.loads(cli.ok("extract", str(undated), "--year", "2026", "--json").stdout)
    assert ok[0]["due"] == "2026-03-03"


def test_a_failing_proposal_in_accept_all_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    """02:30 on the night Vienna springs forward does not exist: the whole run is refused."""
    path = tmp_path / "gap.txt"
    path.write_text("Minutes of 1 March 2025\n\nRegistration closes on 3 March 2025.\n\n"
                    "Next meeting: 30 March 2025, 02:30 - 03:30 (GMT+1)\n", encoding="utf-8")
    before = dump(cli.config_file)
    result = cli("extract", str(path), "--accept-all")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: gap.txt line 5: start: 2025-03-30 02:30 does not exist")
    assert dump(cli.config_file) == before


def test_docx_and_html_minutes(cli: Cli, tmp_path: Path) -> None:
    docx = tmp_path / "minutes.docx"
    docx.write_bytes(make_docx(["Minutes of the meeting of 10 September 2024", "",
                                "All participants must register by 4 October."]))
    data = json.loads(cli.ok("extract", str(docx), "--json").stdout)
    assert [(p["kind"], p["due"]) for p in data] == [("registration", "2024-10-04")]
    html = tmp_path / "note.html"
    html.write_text("<h1>Note, issued 2 April 2025</h1><p>Stakeholders must register on "
                    "INDICO by 25 April 2025.</p>", encoding="utf-8")
    data = json.loads(cli.ok("extract", str(html), "--json").stdout)
    assert [(p["kind"], p["due"]) for p in data] == [("registration", "2025-04-25")]


def test_tz_option_reads_times_in_that_zone(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "ny.txt"
    path.write_text("Minutes of 1 March 2025\n\nThe briefing will be held on 10 March 2025, "
                    "10:00 - 11:00 (GMT-4).\n", encoding="utf-8")
    (p,) = json.loads(cli.ok("extract", str(path), "--tz", "America/New_York", "--json").stdout)
    assert p["tz"] == "America/New_York" and p["start_utc"] == "2025-03-10T14:00:00Z"
    assert p["notes"] == []


def test_help_has_an_example(cli: Cli) -> None:
    assert "Example: tracker extract" in cli.ok("extract", "--help").stdout


def test_json_with_accept_all_says_what_was_added(cli: Cli, minutes: Path) -> None:
    cli.ok("deadline", "add", "Registration", "--kind", "registration", "--due", "2024-10-04",
           "--id", "reg")
    data = json.loads(cli.ok("extract", str(minutes), "--json", "--accept-all").stdout)
    assert [(p["kind"], p["recorded"], p["added"] is not None) for p in data] == [
        ("event", None, True), ("speakers-list", None, True), ("registration", "reg", False),
        ("event", None, True)]
    assert len(listed(cli, "deadline")) == 2 and len(listed(cli, "event")) == 2


def test_review_shows_recorded_items_without_asking(cli: Cli, minutes: Path) -> None:
    cli.ok("extract", str(minutes), "--accept-all")
    result = cli.ok("extract", str(minutes), input="")  # no answer is needed
    assert result.stdout.count("already recorded as") == 4
    assert "0 added, 0 skipped, 4 already recorded" in result.stdout
