"""`tracker remind preview | send-due | status` end to end: the real CLI, a real SQLite file,
mail into the outbox folder or through a real SMTP server (aiosmtpd on loopback).

`send-due` reads the real clock, so those deadlines are placed relative to it: due in three
hours with the offsets 1d,4h,2h, the "1d" moment has passed and is superseded, the "4h" one is
due now (an hour late) and the "2h" one is an hour ahead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.helpers.cli import Cli
from tests.helpers.cli import dump as dump_store
from tests.helpers.smtp_server import SmtpServer


def dump(folder: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the database of the folder's config.toml."""
    return dump_store(folder / "config.toml")


def files(folder: Path) -> list[str]:
    """Every file below `folder` (relative names), but the database."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and not p.name.startswith("tracker.db"))


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """name -> (inode, mtime) of each file: a rewrite (temp file + rename) changes the inode."""
    if not folder.exists():
        return {}
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


# --- remind preview ---------------------------------------------------------------------------

# (member zone, name, the due moment as the Subject shows it, ... as the text shows it)
PREVIEWS = [
    ("Africa/Lagos", "Zoë Ñúñez", "Mon 14 Oct, 11:00 in Lagos (12:00 Vienna)",
     "Mon 14 Oct 2024, 11:00 in Lagos (12:00 Vienna)", "lagos"),
    ("America/Halifax", "Hal Doucet", "Mon 14 Oct, 07:00 in Halifax (12:00 Vienna)",
     "Mon 14 Oct 2024, 07:00 in Halifax (12:00 Vienna)", "halifax"),
    ("Asia/Karachi", "Ахмед", "Mon 14 Oct, 15:00 in Karachi (12:00 Vienna)",
     "Mon 14 Oct 2024, 15:00 in Karachi (12:00 Vienna)", "karachi"),
    ("Pacific/Kiritimati", "李", "Tue 15 Oct, 00:00 in Kiritimati (Mon 14 Oct, 12:00 Vienna)",
     "Tue 15 Oct 2024, 00:00 in Kiritimati (Mon 14 Oct, 12:00 Vienna)", "next-day"),
    ("Pacific/Pago_Pago", "Pat", "Sun 13 Oct, 23:00 in Pago Pago (Mon 14 Oct, 12:00 Vienna)",
     "Sun 13 Oct 2024, 23:00 in Pago Pago (Mon 14 Oct, 12:00 Vienna)", "day-before"),
    ("Europe/Vienna", "Vera", "Mon 14 Oct, 12:00 in Vienna",
     "Mon 14 Oct 2024, 12:00 in Vienna", "own-zone"),
]


@pytest.fixture
def speakers(cli: Cli) -> Cli:
    cli.ok("event", "add", "COP12", "--start", "2024-10-14", "--end", "2024-10-18",
           "--series", "untoc-cop", "--id", "cop12")
    cli.ok("deadline", "add", "List of speakers", "--kind", "speakers-list", "--event", "cop12",
           "--due", "14 Oct 2024 noon", "--id", "speakers",
           "--notes", "Send the speaker's name and agenda item.")
    return cli


@pytest.mark.parametrize(("tz", "name", "subject_when", "text_when"),
                         [p[:4] for p in PREVIEWS], ids=[p[4] for p in PREVIEWS])
def test_preview_shows_the_mail_in_the_members_zone(
    speakers: Cli, tz: str, name: str, subject_when: str, text_when: str
) -> None:
    speakers.ok("member", "add", "first@example.net", "--name", "First", "--tz", "Asia/Tokyo")
    speakers.ok("member", "add", "reader@example.net", "--name", name, "--tz", tz)
    folder = speakers.config_file.parent
    before, files_before = dump(folder), files(folder)

    result = speakers.ok("remind", "preview", "speakers", "--member", "reader@example.net")

    assert result.stderr == ""
    head, _, rest = result.stdout.partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines())
    assert headers["To"] == f"{name} <reader@example.net>"
    assert headers["Subject"] == f"Reminder: List of speakers - due {subject_when}"
    assert headers["From"] == "Alliance Secretariat <secretariat@example.org>"
    assert headers["Message-ID"].endswith(".speakers.preview.0@example.org>")
    assert headers["MIME-Version"] == "1.0"
    assert headers["Content-Type"].startswith("multipart/mixed; boundary=")
    assert "Date" in headers and "List-Unsubscribe" in headers
    body, _, attachments = rest.rstrip("\n").rpartition("\n\n")
    assert f"Dear {name}," in body
    assert text_when in body
    assert "Send the speaker's name and agenda item." in body
    assert "Content-Transfer-Encoding" not in body and "=C3" not in body  # decoded text
    assert attachments == "[attachment: speakers.ics (text/calendar)]"
    assert (dump(folder), files(folder)) == (before, files_before)  # a preview writes nothing


@pytest.mark.parametrize(
    ("members", "expected_to"),
    [
        ([], "Sample Member <member@example.org>"),
        ([("other@example.net", "Other", "ccpcj"), ("follow@example.net", "Fol Lower", "")],
         "Fol Lower <follow@example.net>"),
    ],
    ids=["nobody-follows-sample-member", "first-follower"],
)
def test_preview_without_member_goes_to_the_first_follower(
    speakers: Cli, members: list[tuple[str, str, str]], expected_to: str
) -> None:
    for email, name, series in members:
        speakers.ok("member", "add", email, "--name", name, *(["--series", series] if series else []))
    out = speakers.ok("remind", "preview", "speakers").stdout
    assert f"\nTo: {expected_to}\n" in out
    assert "\nSubject: Reminder: List of speakers - due Mon 14 Oct, 12:00 in Vienna\n" in out


@pytest.mark.parametrize(
    "args",
    [("nope", "--member", "reader@example.net"), ("speakers", "--member", "ghost@example.net")],
    ids=["unknown-deadline", "unknown-member"],
)
def test_preview_of_something_unknown_exits_2_with_one_line(speakers: Cli,
                                                            args: tuple[str, ...]) -> None:
    speakers.ok("member", "add", "reader@example.net", "--tz", "Africa/Lagos")
    folder = speakers.config_file.parent
    before = dump(folder)
    result = speakers("remind", "preview", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    unknown = "nope" if args[0] == "nope" else "ghost@example.net"
    assert unknown in lines[0]
    assert dump(folder) == before


# --- remind send-due / status -----------------------------------------------------------------


@dataclass
class Mailroom:
    """The CLI on a config whose mail goes to the outbox folder or to a real SMTP server."""

    cli: Cli
    folder: Path
    server: SmtpServer | None = None
    members: dict[str, str] = field(default_factory=dict)  # e-mail -> zone

    def delivered(self) -> list[tuple[list[str] | None, EmailMessage]]:
        """(envelope recipients, or None for a file; the parsed message) for each delivery."""
        raw: list[tuple[list[str] | None, bytes]] = []
        if self.server is not None:
            with self.server.handler.lock:
                raw = [(list(r[1]), r[2]) for r in self.server.handler.received]
        elif (self.folder / "outbox").exists():
            raw = [(None, p.read_bytes()) for p in sorted((self.folder / "outbox").glob("*"))]
        return [(to, message_from_bytes(data, policy=policy.default))
                for to, data in raw]


@pytest.fixture(params=["outbox", "smtp"])
def mailroom(request: pytest.FixtureRequest, config_file: Path) -> Iterator[Mailroom]:
    server = None
    if request.param == "smtp":
        server = SmtpServer().start()
        with config_file.open("a", encoding="utf-8") as fh:
            fh.write(f'\n[mail]\nbackend = "smtp"\nsmtp_host = "127.0.0.1"\n'
                     f"smtp_port = {server.port}\n")
    try:
        cli = Cli(config_file)
        cli.ok("init")
        yield Mailroom(cli, config_file.parent, server)
    finally:
        if server is not None:
            server.stop()


SOON_MEMBERS = [
    ("zoe@example.net", "Zoë Ñúñez", "Africa/Lagos", "untoc-cop"),
    ("hal@example.net", "Hal Doucet", "America/Halifax", "untoc-cop"),
    ("ahmed@example.net", "Ахмед", "Asia/Karachi", "ccpcj"),  # follows another series
]


def soon(room: Mailroom) -> datetime:
    """Members, and a deadline due three hours from now (whole minutes) with offsets 1d,4h,2h."""
    due = (datetime.now(UTC) + timedelta(hours=3, minutes=1)).replace(second=0, microsecond=0)
    for email, name, tz, series in SOON_MEMBERS:
        room.cli.ok("member", "add", email, "--name", name, "--tz", tz, "--series", series)
        room.members[email] = tz
    room.cli.ok("deadline", "add", "Submit written statements", "--kind", "submission",
                "--series", "untoc-cop", "--due", f"{due:%Y-%m-%dT%H:%M}Z", "--id", "statements",
                "--remind", "1d,4h,2h")
    return due


def test_send_due_dry_run_lists_and_writes_nothing(mailroom: Mailroom) -> None:
    due = soon(mailroom)
    before, files_before = dump(mailroom.folder), files(mailroom.folder)

    out = mailroom.cli.ok("remind", "send-due", "--dry-run").stdout.splitlines()

    sends = sorted(line for line in out if line.startswith("would send "))
    skips = sorted(line for line in out if line.startswith("would skip "))
    assert len(out) == len(sends) + len(skips) + 1 and out[-1] == "2 to send, 2 to skip"
    shown = {}
    for line in sends:
        m = re.fullmatch(r"would send (<reminder\.\d+\.statements\.4h\.0@example\.org>) "
                         r"to (.+?): Reminder: Submit written statements - due (.+)", line)
        assert m, line
        shown[m.group(2)] = m.group(3)
    assert set(shown) == {"Zoë Ñúñez <zoe@example.net>", "Hal Doucet <hal@example.net>"}
    for to, tz, place in (("Zoë Ñúñez <zoe@example.net>", "Africa/Lagos", "Lagos"),
                          ("Hal Doucet <hal@example.net>", "America/Halifax", "Halifax")):
        local = due.astimezone(ZoneInfo(tz))
        assert shown[to].startswith(f"{local:%a %-d %b}, {local:%H:%M} in {place} ("), shown[to]
    assert all(".statements.1d.0@example.org>: superseded by a later reminder" in s for s in skips)
    assert not any("ahmed" in line for line in out)
    assert mailroom.delivered() == []
    assert (dump(mailroom.folder), files(mailroom.folder)) == (before, files_before)
    status = mailroom.cli.ok("remind", "status").stdout
    assert "pending  0\n" in status and "sent     0\n" in status


def test_send_due_sends_each_due_reminder_exactly_once(mailroom: Mailroom) -> None:
    due = soon(mailroom)
    predicted = {line.split()[2] for line in mailroom.cli.ok(
        "remind", "send-due", "--dry-run").stdout.splitlines() if line.startswith("would send")}
    assert len(predicted) == 2

    first = mailroom.cli.ok("remind", "send-due")
    assert first.stdout.splitlines()[-1] == "sent 2, retry later 0, failed 0"

    delivered = mailroom.delivered()
    assert len(delivered) == 2
    by_to: dict[str, EmailMessage] = {}
    for envelope, msg in delivered:
        (address,) = msg["To"].addresses
        assert address.addr_spec not in by_to, f"{address.addr_spec} got two mails"
        by_to[address.addr_spec] = msg
        if envelope is not None:  # SMTP: the envelope goes to the same member only
            assert envelope == [address.addr_spec]
    assert set(by_to) == {"zoe@example.net", "hal@example.net"}
    assert by_to["zoe@example.net"]["To"].addresses[0].display_name == "Zoë Ñúñez"
    assert {str(m["Message-ID"]) for m in by_to.values()} == predicted
    for email, msg in by_to.items():
        local = due.astimezone(ZoneInfo(mailroom.members[email]))
        place = mailroom.members[email].rsplit("/", 1)[1]
        assert msg["Subject"].startswith("Reminder: Submit written statements - due ")
        assert f"{local:%H:%M} in {place}" in msg["Subject"]
        assert str(msg["Message-ID"]).endswith(".statements.4h.0@example.org>")
        assert f"{local:%a %-d %b %Y}, {local:%H:%M} in {place}" in msg.get_body(
            ("plain",)).get_content()
        (ics,) = list(msg.iter_attachments())
        assert ics.get_filename() == "statements.ics"
    if mailroom.server is None:  # one file per message, named by its Message-ID, no temp left
        names = sorted(p.name for p in (mailroom.folder / "outbox").iterdir())
        assert names == sorted(f"{m.strip('<>')}.eml" for m in predicted)
    written = stamps(mailroom.folder / "outbox")

    again = mailroom.cli.ok("remind", "send-due")
    assert again.stdout.splitlines()[-1] == "sent 0, retry later 0, failed 0"
    assert len(mailroom.delivered()) == 2
    assert stamps(mailroom.folder / "outbox") == written  # a resend would replace the file

    status = mailroom.cli.ok("remind", "status").stdout.splitlines()
    counts = dict(line.split() for line in status[:5])
    assert counts == {"pending": "2", "claimed": "0", "sent": "2", "skipped": "2", "failed": "0"}
    next_due = due - timedelta(hours=2)  # shown in the secretary's zone, then in UTC
    vienna = next_due.astimezone(ZoneInfo("Europe/Vienna"))
    assert status[5] == (f"next due: {vienna:%a %d %b %Y %H:%M} {vienna.tzname()} "
                         f"(Europe/Vienna), {next_due:%Y-%m-%dT%H:%M:%SZ}")
