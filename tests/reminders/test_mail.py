"""Mail through a real SMTP server (aiosmtpd on loopback), parsed back with `email`."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from tests.helpers.remind_data import add_deadline_at, add_members, make_config
from tests.helpers.smtp_server import SmtpServer, smtp_server  # noqa: F401  (fixture)
from tracker.config import Config
from tracker.db.engine import session_scope
from tracker.records.deadlines import DeadlineInput, edit_deadline
from tracker.records.models import Deadline, Member
from tracker.reminders.mail import OutboxBackend, SmtpBackend, render, when_text, wire_data
from tracker.reminders.mime import Outgoing
from tracker.reminders.tables import OutboxRow
from tracker.scheduler.round import run_round

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
SEND = datetime(2024, 10, 13, 14, 0, tzinfo=UTC)  # every member's "1d" moment has come


def smtp_config(tmp_path: Path, url: str, server: SmtpServer) -> Config:
    return make_config(tmp_path, url, backend="smtp", smtp_host="127.0.0.1",
                       smtp_port=server.port)


def test_each_member_gets_one_mail_in_their_own_time(
    tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer  # noqa: F811
) -> None:
    add_members(sqlite_url, NOW, 6)
    add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon",
                    opens="20 Sep 2024 09:00", notes="Register each delegate.")
    config = smtp_config(tmp_path, sqlite_url, smtp_server)
    report = run_round(config, lambda: SEND, "test")
    assert report.sent == 6 and smtp_server.count == 6
    assert run_round(config, lambda: SEND + timedelta(minutes=1), "test").sent == 0
    by_to = {m["To"].addresses[0].addr_spec: m for m in smtp_server.messages}
    assert len(by_to) == 6
    expected = {
        "m0000@example.net": "Mon 14 Oct, 07:00 in Halifax (12:00 Vienna)",
        "m0001@example.net": "Mon 14 Oct, 15:00 in Karachi (12:00 Vienna)",
        "m0002@example.net": "Mon 14 Oct, 11:00 in Lagos (12:00 Vienna)",
        "m0003@example.net": "Mon 14 Oct, 06:00 in New York (12:00 Vienna)",
        "m0004@example.net": "Mon 14 Oct, 19:00 in Tokyo (12:00 Vienna)",
        "m0005@example.net": "Mon 14 Oct, 12:00 in Vienna",
    }
    for email, when in expected.items():
        msg = by_to[email]
        assert msg["Subject"] == f"Reminder: Register for cop12-reg - due {when}"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert when.replace("Oct,", "Oct 2024,") in text and "Register each delegate." in text
        assert "Window: " in text and "https://indico.un.org/event/1/" in html
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "<https://tracker.example.org/unsubscribe/" in msg["List-Unsubscribe"]
        assert "<mailto:secretariat@example.org?subject=unsubscribe" in msg["List-Unsubscribe"]
        assert msg["Date"] and msg["Message-ID"].endswith(".1d.0@example.org>")
        (ics,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]
        cal = icalendar.Calendar.from_ical(ics.get_content())
        (event,) = cal.walk("VEVENT")
        assert event.decoded("DTSTART").astimezone(UTC) == datetime(2024, 10, 14, 10, tzinfo=UTC)
    with session_scope(sqlite_url) as s:
        stored = {r.message_id for r in s.query(OutboxRow).filter_by(state="sent")}
    assert stored == {m["Message-ID"] for m in smtp_server.messages}


def test_a_sender_name_beyond_ascii_is_encoded_and_the_envelope_stays_ascii(
    tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer  # noqa: F811
) -> None:
    """The config door takes any name but only an ASCII address (it refuses `sécr@...`)."""
    add_members(sqlite_url, NOW, 2)
    add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    config = make_config(tmp_path, sqlite_url, backend="smtp", smtp_host="127.0.0.1",
                         smtp_port=smtp_server.port, sender="Sécrétariat <secr@example.org>")
    assert run_round(config, lambda: SEND, "test").sent == 2 and smtp_server.count == 2
    assert {r[0] for r in smtp_server.handler.received} == {"secr@example.org"}
    assert {str(m["From"]) for m in smtp_server.messages} == {"Sécrétariat <secr@example.org>"}


def test_4xx_retries_later_and_5xx_fails_with_the_answer(
    tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer  # noqa: F811
) -> None:
    add_members(sqlite_url, NOW, 2)
    add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    config = smtp_config(tmp_path, sqlite_url, smtp_server)
    smtp_server.handler.answer = "451 4.3.0 mailbox busy, try later"
    report = run_round(config, lambda: SEND, "test")
    assert (report.sent, report.retried) == (0, 2) and smtp_server.count == 0
    smtp_server.handler.answer = None
    assert run_round(config, lambda: SEND + timedelta(seconds=10), "test").sent == 0  # backoff
    assert run_round(config, lambda: SEND + timedelta(seconds=30), "test").sent == 2
    add_deadline_at(sqlite_url, NOW, "other", "15 Oct 2024 noon")
    smtp_server.handler.answer = "550 5.1.1 no such mailbox"
    report = run_round(config, lambda: datetime(2024, 10, 14, 14, tzinfo=UTC), "test")
    assert report.failed == 2
    with session_scope(sqlite_url) as s:
        failed = s.query(OutboxRow).filter_by(state="failed").all()
    assert {f.last_error for f in failed} == {"550 5.1.1 no such mailbox"}


def test_moved_notice_shows_the_final_state(
    tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer  # noqa: F811
) -> None:
    add_members(sqlite_url, NOW, 1, zones=["America/New_York"])
    add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    config = smtp_config(tmp_path, sqlite_url, smtp_server)
    t = datetime(2024, 10, 1, 8, tzinfo=UTC)
    assert run_round(config, lambda: t, "test").sent == 1  # the 14d reminder, a day late
    for minute, due in ((1, "18 Oct 2024 noon"), (2, "21 Oct 2024 noon"), (3, "25 Oct 2024 noon")):
        with session_scope(sqlite_url) as s:
            edit_deadline(s, "cop12-reg", DeadlineInput(due=due), now=t + timedelta(minutes=minute))
        run_round(config, lambda m=minute: t + timedelta(minutes=m), "test")
    assert smtp_server.count == 1  # quiet period: no notice yet
    run_round(config, lambda: t + timedelta(minutes=14), "test")
    _, msg = smtp_server.messages
    assert msg["Subject"] == ("Extended: Register for cop12-reg - now due "
                              "Fri 25 Oct, 06:00 in New York (12:00 Vienna)")
    text = msg.get_body(("plain",)).get_content()
    assert "it is now due Fri 25 Oct 2024" in text
    # what it was due before the change (the due the member was last told about)
    assert "(it was due Mon 14 Oct 2024, 06:00 in New York (12:00 Vienna))" in " ".join(
        text.split())


def test_greets_with_the_host_of_base_url_and_carries_list_id(
    tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer  # noqa: F811
) -> None:
    """Not '[127.0.0.1]': a real name, [mail] helo or the host of base_url."""
    add_members(sqlite_url, NOW, 1)
    add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    config = smtp_config(tmp_path, sqlite_url, smtp_server)
    assert config.helo_name == "tracker.example.org"
    assert run_round(config, lambda: SEND, "test").sent == 1
    assert smtp_server.handler.seen[0].helo == "tracker.example.org"
    assert smtp_server.messages[0]["List-Id"] == (
        '"Alliance events and deadlines" <reminders.example.org>')
    add_deadline_at(sqlite_url, NOW, "cop12-other", "14 Oct 2024 13:00")
    named = make_config(tmp_path, sqlite_url, backend="smtp", smtp_host="127.0.0.1",
                        smtp_port=smtp_server.port, helo="mail.alliance.example")
    assert run_round(named, lambda: SEND, "test").sent == 1
    assert smtp_server.handler.seen[1].helo == "mail.alliance.example"


def test_dkim_signature_verifies_with_the_published_key(
    tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer  # noqa: F811
) -> None:
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "dkim.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    add_members(sqlite_url, NOW, 1)
    add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    config = make_config(tmp_path, sqlite_url, backend="smtp", smtp_host="127.0.0.1",
                         smtp_port=smtp_server.port, dkim_key="dkim.pem",
                         dkim_selector="tracker2025")
    assert run_round(config, lambda: SEND, "test").sent == 1
    raw = smtp_server.handler.received[0][2]
    assert raw.startswith(b"DKIM-Signature:") and b"d=example.org" in raw
    assert b"s=tracker2025" in raw

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"tracker2025._domainkey.example.org." else None

    assert dkim.verify(raw, dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"Register for", b"Register fur"), dnsfunc=dns)


@pytest.mark.parametrize("title", ["Reg\r\nBcc: evil@example.com", "Reg\nX-Injected: yes",
                                   "Reg\rSubject: spoof"], ids=["crlf", "lf", "cr"])
def test_title_with_newlines_cannot_inject_a_header(tmp_path: Path, sqlite_url: str,
                                                   title: str) -> None:
    deadline = Deadline(id="d1", uid="d1@x", title=title, kind="other", series=[],
                        tz="Europe/Vienna", due_utc=SEND + timedelta(days=1), status="open",
                        sequence=0, created_at=NOW, modified_at=NOW, visibility="public",
                        instructions="", url="", email="", location="")
    member = Member(id=1, email="a@example.net", name="A\r\nCc: evil@example.com",
                    tz="Africa/Lagos", unsubscribe_token="T" * 32)
    config = make_config(tmp_path, sqlite_url)
    msg = render(config, "reminder", deadline, member, "<x@example.org>", SEND)
    raw = msg.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]  # the top-level header block
    assert b"\nBcc:" not in head and b"\nX-Injected:" not in head and b"\nCc:" not in head
    assert head.count(b"\nSubject:") == 1
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    from email import message_from_bytes, policy
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None and parsed["Cc"] is None and parsed["X-Injected"] is None
    assert "\n" not in parsed["Subject"] and parsed["Subject"].startswith("Reminder: Reg ")


def test_html_is_autoescaped(tmp_path: Path, sqlite_url: str) -> None:
    deadline = Deadline(id="d1", uid="d1@x", title="<script>alert(1)</script>", kind="payment",
                        series=[], tz="Europe/Vienna", due_utc=SEND + timedelta(days=1),
                        status="open", sequence=0, created_at=NOW, modified_at=NOW,
                        visibility="public", instructions="Pay & <b>send</b>", url="", email="",
                        location="")
    member = Member(id=1, email="a@example.net", name="A", tz="Asia/Tokyo",
                    unsubscribe_token="T" * 32)
    msg = render(make_config(tmp_path, sqlite_url), "reminder", deadline, member, "<x@y>", SEND)
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "Pay &amp; &lt;b&gt;" in html


def test_outbox_backend_writes_atomically_and_overwrites_a_resend(
    tmp_path: Path, sqlite_url: str
) -> None:
    add_members(sqlite_url, NOW, 3)
    add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    config = make_config(tmp_path, sqlite_url)
    assert run_round(config, lambda: SEND, "test").sent == 3
    files = sorted((tmp_path / "outbox").iterdir())
    assert [f.name for f in files] == [f"reminder.{i}.cop12-reg.1d.0@example.org.eml"
                                       for i in (1, 2, 3)]
    first = files[0].read_bytes()
    assert b"\r\n" in first and b"\n" not in first.replace(b"\r\n", b"")
    from email import message_from_bytes, policy
    msg = message_from_bytes(first, policy=policy.default)
    with OutboxBackend(config) as backend:  # a resend after a crash: same name, no duplicate
        backend.send(msg)
    assert sorted(f.name for f in (tmp_path / "outbox").iterdir()) == [f.name for f in files]


def test_when_text_across_dates() -> None:
    at = datetime(2024, 10, 14, 22, 30, tzinfo=UTC)
    assert when_text(at, "America/New_York", "Europe/Vienna") == (
        "Mon 14 Oct 2024, 18:30 in New York (Tue 15 Oct, 00:30 Vienna)")
    assert when_text(datetime(2024, 10, 4, 21, 59, tzinfo=UTC), "Asia/Tokyo", "Europe/Vienna",
                     end_of_day=True) == "by the end of Fri 4 Oct 2024 in Vienna (Sat 5 Oct, 06:59 Tokyo)"
    # the example: a Halifax member reading a Vienna date deadline (9 May, 23:59 CEST)
    end = datetime(2025, 5, 9, 21, 59, tzinfo=UTC)
    assert when_text(end, "America/Halifax", "Europe/Vienna", end_of_day=True, year=False) == (
        "by the end of Fri 9 May in Vienna (18:59 Halifax)")
    assert when_text(end, "Europe/Vienna", "Europe/Vienna", end_of_day=True) == (
        "by the end of Fri 9 May 2025 in Vienna")


@pytest.mark.parametrize("tail", [b"\r\n", b""], ids=["ends-with-crlf", "no-final-line-end"])
def test_lines_that_begin_with_a_dot_arrive_as_smtplib_sends_them(
    tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer, tail: bytes  # noqa: F811
) -> None:
    """The backend writes DATA itself (to work while the server reads it): the dot-stuffing
    and the end of data must be what `smtplib.SMTP.data` makes of the same bytes."""
    body = b"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nmiddle . dot\r\n.\r\n.last" + tail
    msg = Outgoing("<dots@example.org>", "secretariat@example.org", "a@example.net", body)
    with SmtpBackend(smtp_config(tmp_path, sqlite_url, smtp_server)) as backend:
        backend.send(msg)
    with smtplib.SMTP("127.0.0.1", smtp_server.port) as plain:
        plain.sendmail(msg.sender, [msg.recipient], body)
    ours, smtplibs = (r[2] for r in smtp_server.handler.received)
    assert ours == smtplibs == body.removesuffix(b"\r\n") + b"\r\n"
    wire = wire_data(body)
    assert wire.endswith(b"\r\n.\r\n") and wire.split(b"\r\n").count(b".") == 1  # the end only
