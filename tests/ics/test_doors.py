"""`tracker import ics` checks every value the way the CLI does: one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import Cli


def vevent(*lines: str, uid: str = "item-1@example.org") -> str:
    props = {"UID": uid, "SUMMARY": "Plenary", "DTSTART;TZID=Europe/Vienna": "20241014T100000",
             "DTEND;TZID=Europe/Vienna": "20241014T110000"}
    body = []
    for line in lines:
        name = line.split(":", 1)[0]
        key = next((k for k in props if k.split(";")[0] == name.split(";")[0]), None)
        if key is not None:
            del props[key]
        body.append(line)
    body = [f"{k}:{v}" for k, v in props.items()] + body
    return "BEGIN:VEVENT\r\n" + "".join(f"{b}\r\n" for b in body) + "END:VEVENT\r\n"


def calendar(*events: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(events)
            + "END:VCALENDAR\r\n").encode("utf-8")


def refused(cli: Cli, path: Path, *words: str, args: tuple[str, ...] = ()) -> str:
    result = cli("import", "ics", str(path), *args)
    assert result.exit_code == 2, (result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], lines[0]
    assert "\x07" not in lines[0] and "\x1b" not in lines[0] and "\x00" not in lines[0]
    assert json.loads(cli.ok("event", "list", "--json").output) == []
    assert json.loads(cli.ok("deadline", "list", "--json").output) == []
    return lines[0]


CASES = {
    "year-1": (vevent("DTSTART:00010101T100000Z", "DTEND:00010101T110000Z"), "DTSTART", "1900"),
    "year-9999": (vevent("DTSTART;TZID=Europe/Vienna:99991231T233000",
                         "DTEND;TZID=Europe/Vienna:99991231T235000"), "DTSTART", "2199"),
    "duration-negative": (vevent("DURATION:-P1000000D", "DTEND;X=1:"), "DURATION", "2199"),
    "duration-weeks": (vevent("DURATION:P99999999W", "DTEND;X=1:"), "DURATION", "2199"),
    "date-9999": (vevent("DTSTART;VALUE=DATE:99991231", "DTEND;VALUE=DATE:99991231"),
                  "DTSTART", "2199"),
    "bell-in-summary": (vevent("SUMMARY:bell\x07\x1b[31m"), "SUMMARY", "control characters"),
    "nul-in-summary": (vevent("SUMMARY:nul\x00byte"), "SUMMARY", "control characters"),
    "javascript-url": (vevent("URL:javascript:alert(1)"), "URL", "not a web address"),
    "bad-email": (vevent("X-TRACKER-KIND:registration", "X-TRACKER-EMAIL:not an address"),
                  "X-TRACKER-EMAIL", "not an e-mail address"),
    "teleport": (vevent("X-TRACKER-MODE:teleport"), "X-TRACKER-MODE", "teleport"),
    "long-uid": (vevent(uid="u" * 5000), "UID", "255"),
    "huge-sequence": (vevent("SEQUENCE:99999999999999"), "SEQUENCE", "range"),
    "negative-sequence": (vevent("SEQUENCE:-5"), "SEQUENCE", "from 0"),
    "many-alarms": (vevent(*["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT1H",
                             "DESCRIPTION:x", "END:VALARM"] * 101), "VALARM", "100"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_values_are_refused_by_name_and_nothing_is_written(
        cli: Cli, tmp_path: Path, case: str) -> None:
    text, *words = CASES[case]
    text = text.replace("DTEND;X=1:\r\n", "")
    good = vevent(uid="fine@example.org")
    path = tmp_path / "export.ics"
    path.write_bytes(calendar(good, text))
    refused(cli, path, str(path), *words)


def test_file_over_max_size_is_refused_before_parsing(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "big.ics"
    filler = vevent(uid="fine@example.org").replace(
        "SUMMARY:Plenary", "DESCRIPTION:" + "\r\n ".join(["x" * 70] * 12) + "\r\nSUMMARY:P")
    path.write_bytes(calendar(*[filler.replace("fine@", f"n{i}@") for i in range(1300)]))
    assert path.stat().st_size > 1024 * 1024
    refused(cli, path, "--max-size", "1 MB", args=("--max-size", "1"))
    # The default (20 MB) takes it; 1,300 items with the same title get 1,300 distinct ids.
    assert "1300 added" in cli.ok("import", "ics", str(path)).output


def test_deadline_offsets_and_lengths_are_the_same_at_every_door(cli: Cli) -> None:
    offsets = ",".join(f"{n}m" for n in range(1, 22))  # 21 offsets
    result = cli("deadline", "add", "X", "--due", "4 Oct 2024", "--remind", offsets)
    assert result.exit_code == 2 and "--remind" in result.stderr and "20" in result.stderr
    result = cli("event", "add", "Far", "--start", "9999-12-31 23:30")
    assert result.exit_code == 2 and "--start" in result.stderr and "2199" in result.stderr
    result = cli("event", "add", "Early", "--start", "1899-12-31")
    assert result.exit_code == 2 and "--start" in result.stderr
    result = cli("event", "add", "Bell\x07", "--start", "2024-10-14")
    assert result.exit_code == 2 and "\x07" not in result.stderr
