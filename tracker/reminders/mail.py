"""Render reminder and notice mail (Jinja2) and deliver it (SMTP or a folder of .eml files).

Rendering happens at send time, so a notice shows the deadline's final state. Every header
value passes through `one_line`, so a title with CR/LF cannot start a new header; the HTML part
is autoescaped and templates use StrictUndefined, so a typo in a template fails loudly.

Messages are assembled as bytes with CRLF line ends (`Composer`; non-plain header values are
encoded and folded by the email package): aiosmtpd and post-2024 MTAs refuse bare LF.
The SMTP backend keeps ONE connection for a whole batch; a new connection per message halves
the rate on loopback.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import selectors
import smtplib
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from types import TracebackType
from typing import Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

import dkim
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import links
from tracker.config import Config
from tracker.errors import ConfigError, OperationalError
from tracker.feeds.render import FeedSettings, item_from_deadline, render_calendar
from tracker.records.checks import is_safe_url
from tracker.records.lookup import get_deadline, get_member
from tracker.records.models import Deadline, Member
from tracker.reminders.mime import (
    Outgoing,
    address_header,
    attachment_part,
    header,
    multipart,
    text_part,
)
from tracker.reminders.rows import make_message_id, sender_domain

log = logging.getLogger(__name__)
KIND_TEMPLATES = ("registration", "speakers-list", "ground-pass")
NOTICE_KINDS = ("moved", "cancelled")


def one_line(text: str) -> str:
    """Collapse every run of whitespace (CR and LF included) into one space."""
    return " ".join(str(text).split())


def place(tz: str) -> str:
    """'America/New_York' -> 'New York'; the city a reader recognises."""
    return tz.rsplit("/", 1)[-1].replace("_", " ")


def when_text(utc: datetime, member_tz: str, own_tz: str, end_of_day: bool = False,
              year: bool = True) -> str:
    """'Mon 14 Oct 2024, 06:00 in New York (12:00 Vienna)' - the member's zone first.

    Due on a date (`end_of_day`), the deadline's own day comes first, since that is what the
    secretariat set: 'by the end of Fri 9 May 2025 in Vienna (18:59 Halifax)'.
    """
    mine, own = utc.astimezone(ZoneInfo(member_tz)), utc.astimezone(ZoneInfo(own_tz))
    if end_of_day:
        text = f"by the end of {own:%a %-d %b %Y}" if year else f"by the end of {own:%a %-d %b}"
        text += f" in {place(own_tz)}"
        if member_tz == own_tz:
            return text
        other = f"{mine:%H:%M}" if own.date() == mine.date() else f"{mine:%a %-d %b, %H:%M}"
        return f"{text} ({other} {place(member_tz)})"
    day = f"{mine:%a %-d %b %Y}" if year else f"{mine:%a %-d %b}"
    text = f"{day}, {mine:%H:%M} in {place(member_tz)}"
    if member_tz == own_tz:
        return text
    other = f"{own:%H:%M}" if own.date() == mine.date() else f"{own:%a %-d %b, %H:%M}"
    return f"{text} ({other} {place(own_tz)})"


def short_when(utc: datetime, member_tz: str, own_tz: str, end_of_day: bool = False) -> str:
    """The subject form, without the year: 'Mon 14 Oct, 06:00 in New York (12:00 Vienna)'."""
    return when_text(utc, member_tz, own_tz, end_of_day, year=False)


def time_left(now: datetime, due: datetime) -> str:
    seconds = (due - now).total_seconds()
    if seconds <= 0:
        return "now"
    days, hours = int(seconds // 86400), int(seconds % 86400 // 3600)
    if days >= 2:
        return f"in {days} days"
    if days == 1:
        return "in 1 day" + (f" {hours} h" if hours else "")
    minutes = int(seconds // 60)
    return f"in {minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"in {minutes} min"


class Addressee(Protocol):
    """What a message needs of its member: a `Member`, or a `Recipient` read without the ORM."""

    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def tz(self) -> str: ...
    @property
    def unsubscribe_token(self) -> str: ...


@dataclass(frozen=True)
class Recipient:
    """A member as a batch reads them (plain columns: 2,000 ORM objects cost more to load than
    the rows themselves)."""

    id: int
    email: str
    name: str
    tz: str
    unsubscribe_token: str


def recipients(session: Session, ids: Iterable[int]) -> dict[int, Recipient]:
    m = Member
    rows = session.execute(select(m.id, m.email, m.name, m.tz, m.unsubscribe_token)
                           .where(m.id.in_(set(ids))))
    return {r[0]: Recipient(r[0], r[1], r[2] or "", r[3], r[4]) for r in rows}


def unsubscribe_url(config: Config, member: Addressee) -> str:
    return links.unsubscribe_url(config.tracker.base_url, member.unsubscribe_token)


def href(value: str) -> str:
    """The `href` filter of the templates: a checked link, else a harmless '#'."""
    return value if is_safe_url(str(value)) else "#"


def _environment(folder: Path) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates are compiled once per process, not stat()ed per mail
    )
    environment.filters["href"] = href
    return environment


@functools.lru_cache(maxsize=16)
def env(folder: Path) -> Environment:
    """One environment per template folder (`Config.templates_dir`), made once per process, so
    each template is compiled once however many mails and configs use it."""
    return _environment(folder)


def template(name: str, folder: Path) -> Template:
    return env(folder).get_template(name)


def family(kind: str, deadline_kind: str) -> str:
    """Template family: notice-moved / notice-cancelled, the kind's own, or default."""
    if kind in NOTICE_KINDS:
        return f"notice-{kind}"
    return deadline_kind if deadline_kind in KIND_TEMPLATES else "default"


def deadline_context(config: Config, deadline: Deadline) -> dict[str, str]:
    """What every follower's mail about `deadline` shows alike (a batch makes it once)."""
    return {
        "title": deadline.title,
        "deadline_kind": deadline.kind.replace("-", " "),
        "status": deadline.status,
        "instructions": deadline.instructions or "",
        # Checked again here, not only at the door: a row written by raw SQL or an older
        # version must never become a javascript: link in the HTML part.
        "url": deadline.url if is_safe_url(deadline.url or "") else "",
        "email": deadline.email or "",
        "location": deadline.location or "",
        "event": deadline.event.title if deadline.event is not None else "",
        "sender": config.mail.sender,
        # "yes" or "": due on a date (its end) rather than at a time of day
        "end_of_day": "yes" if deadline.due_date is not None else "",
    }


def zone_context(deadline: Deadline, tz: str) -> dict[str, str]:
    """The deadline's moments as a reader in zone `tz` sees them (once per batch and zone)."""
    own, end_of_day = deadline.tz, deadline.due_date is not None
    window = ""
    if deadline.opens_utc is not None:
        until = when_text(deadline.due_utc, tz, own, end_of_day).removeprefix("by ")
        window = f"{when_text(deadline.opens_utc, tz, own)} to {until}"
    return {
        "due": when_text(deadline.due_utc, tz, own, end_of_day),
        "due_short": short_when(deadline.due_utc, tz, own, end_of_day),
        "window": window,
    }


def was_due_text(was_due: datetime | None, deadline: Deadline, tz: str) -> str:
    """A moved notice's former due moment as the member reads it ('' when unknown or same)."""
    if was_due is None or was_due == deadline.due_utc:
        return ""
    own = was_due.astimezone(ZoneInfo(deadline.tz))
    return when_text(was_due, tz, deadline.tz, end_of_day=(own.hour, own.minute) == (23, 59))


def context(config: Config, kind: str, deadline: Deadline, member: Addressee, now: datetime,
            shared: dict[str, str] | None = None,
            zone: dict[str, str] | None = None,
            was_due: datetime | None = None) -> dict[str, str]:
    """Everything a template may show, as plain strings; `shared`/`zone` are cached parts."""
    return {
        **(shared if shared is not None else deadline_context(config, deadline)),
        **(zone if zone is not None else zone_context(deadline, member.tz)),
        "was_due": was_due_text(was_due, deadline, member.tz),
        "kind": kind,
        "member_name": member.name or member.email,
        "time_left": time_left(now, deadline.due_utc),
        "unsubscribe_url": unsubscribe_url(config, member),
        "page_url": links.member_page_url(config.tracker.base_url, member.unsubscribe_token),
    }


def subject(kind: str, ctx: Mapping[str, str]) -> str:
    if kind == "cancelled":  # no brackets around a due text that has its own
        text = f"Cancelled: {ctx['title']} - was due {ctx['due_short']}"
    elif kind == "moved":
        verb = "Extended" if ctx["status"] == "extended" else "Moved"
        text = f"{verb}: {ctx['title']} - now due {ctx['due_short']}"
    else:
        text = f"Reminder: {ctx['title']} - due {ctx['due_short']}"
    return one_line(text)


def item_ics(config: Config, deadline: Deadline, now: datetime) -> bytes:
    """The deadline as a one-item calendar, rendered by the feeds module (same VEVENT as feeds)."""
    return render_calendar([item_from_deadline(deadline)], FeedSettings.from_config(config),
                           now, name=one_line(deadline.title))


class Composer:
    """Render the messages of one batch; what a deadline's members share is made once.

    The .ics attachment and the deadline's own fields depend only on (deadline, sequence), the
    dates shown also on the member's zone, so each is made once per batch. The bytes are
    assembled by tracker.reminders.mime rather than through an EmailMessage that `send_message` flattens
    again: parsing and re-folding plain ASCII headers cost ~10 of the ~16 ms a message took.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.templates = config.templates_dir  # resolved once: it stat()s the configured folder
        self.envelope_from = parseaddr(config.mail.sender)[1]
        self.mailto = f"mailto:{self.envelope_from}?subject="
        sender_name, sender_address = parseaddr(one_line(config.mail.sender))
        self.head = address_header("From", sender_name, sender_address)
        domain = sender_domain(config.mail.sender)
        list_name = one_line(config.calendars.name).replace('"', "").replace("\\", "")
        # List-Id (RFC 2919): filters expect it next to List-Unsubscribe; without it
        # SpamAssassin adds LIST_PARTIAL_SHORT_MSG (+1.0) to a short reminder.
        self.list_id = header("List-Id", f'"{list_name}" <reminders.{domain}>')
        self.dkim = dkim_signer(config)
        self.tail = (header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
                     + header("Auto-Submitted", "auto-generated")
                     + header("X-Auto-Response-Suppress", "All") + b"MIME-Version: 1.0\r\n")
        self.attachments: dict[tuple[str, int], bytes] = {}
        self.shared: dict[tuple[str, int], dict[str, str]] = {}
        self.zones: dict[tuple[str, int, str], dict[str, str]] = {}

    def attachment(self, deadline: Deadline, now: datetime, ics: bytes | None = None) -> bytes:
        key = (deadline.id, deadline.sequence)
        if key not in self.attachments:
            name = re.sub(r"[^A-Za-z0-9_-]", "_", deadline.id) + ".ics"
            data = ics if ics is not None else item_ics(self.config, deadline, now)
            self.attachments[key] = attachment_part(name, data)
        return self.attachments[key]

    def compose(self, kind: str, deadline: Deadline, member: Addressee, message_id: str,
                now: datetime, ics: bytes | None = None,
                was_due: datetime | None = None) -> Outgoing:
        """One multipart (text + HTML + .ics) message for `member`; `was_due`: a moved
        notice's former due moment."""
        key = (deadline.id, deadline.sequence)
        if key not in self.shared:
            self.shared[key] = deadline_context(self.config, deadline)
        zkey = (*key, member.tz)
        if zkey not in self.zones:
            self.zones[zkey] = zone_context(deadline, member.tz)
        ctx = context(self.config, kind, deadline, member, now, self.shared[key], self.zones[zkey],
                      was_due)
        fam = family(kind, deadline.kind)
        body = multipart("mixed", [
            multipart("alternative", [
                text_part("plain", template(f"{fam}.txt.j2", self.templates).render(ctx)),
                text_part("html", template(f"{fam}.html.j2", self.templates).render(ctx)),
            ]),
            self.attachment(deadline, now, ics),
        ])
        unsubscribe = quote("unsubscribe " + member.unsubscribe_token)
        head = b"".join((
            self.head,
            address_header("To", one_line(member.name), member.email),
            header("Subject", subject(kind, ctx)),
            header("Date", format_datetime(now)),
            header("Message-ID", message_id),
            self.list_id,
            header("List-Unsubscribe", f"<{self.mailto}{unsubscribe}>, <{ctx['unsubscribe_url']}>"),
            self.tail,
        ))
        data = head + body
        if self.dkim is not None:
            data = self.dkim(data) + data
        return Outgoing(message_id, self.envelope_from, member.email, data)


DKIM_HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Id",
                b"List-Unsubscribe", b"List-Unsubscribe-Post", b"MIME-Version", b"Content-Type")


def dkim_signer(config: Config) -> functools.partial[bytes] | None:
    """A function message bytes -> 'DKIM-Signature: ...' header, or None without [mail] dkim_key.

    Signed with the sender's domain (d=), so a secretariat that sends directly passes the 2024
    bulk-sender rules of Gmail and Yahoo (SPF or DKIM aligned with From, one-click unsubscribe).
    """
    path = config.dkim_key_path
    if path is None:
        return None
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError("[mail] dkim_key", f"cannot read {path}: {exc}") from None
    domain = sender_domain(config.mail.sender).encode()
    return functools.partial(_dkim_sign, selector=config.mail.dkim_selector.encode(),
                             domain=domain, key=key)


def _dkim_sign(data: bytes, *, selector: bytes, domain: bytes, key: bytes) -> bytes:
    try:
        signature: bytes = dkim.sign(data, selector, domain, key, include_headers=list(DKIM_HEADERS),
                                     linesep=b"\r\n")
    except dkim.DKIMException as exc:
        raise ConfigError("[mail] dkim_key", f"cannot sign with it: {exc}") from None
    return signature


def render(config: Config, kind: str, deadline: Deadline, member: Addressee, message_id: str,
           now: datetime, ics: bytes | None = None,
           was_due: datetime | None = None) -> EmailMessage:
    """The message as an EmailMessage (preview, dry run, tests): the composed bytes, parsed."""
    return Composer(config).compose(kind, deadline, member, message_id, now, ics,
                                    was_due).parsed()


class DeliveryError(Exception):
    """A message the server did not accept. `permanent`: a 5xx (do not retry)."""

    def __init__(self, answer: str, permanent: bool = False, connection: bool = False) -> None:
        super().__init__(answer)
        self.answer = answer
        self.permanent = permanent
        self.connection = connection  # the connection is gone: the rest of the batch waits


def _answer(code: int, text: bytes | str) -> DeliveryError:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return DeliveryError(f"{code} {one_line(body)}", permanent=500 <= code < 600)


class _Watchdog:
    """Cuts an SMTP connection whose exchange outlives its deadline.

    smtplib's timeout bounds each read, not an exchange: a server that drips a `220-` line
    every 20 s never trips a 30 s read timeout. `within(seconds)` arms a deadline; if the block
    has not ended by then, the socket is shut down (the blocked read returns at once).

    One thread per connection that arming does not wake: `within` only stores its deadline,
    and the thread looks at it when the deadline it last saw is due, or every `poll` seconds
    while nothing was armed (so a cut comes at most `poll` late). Waking the thread for every
    message (a Condition's notify, twice per message) cost the sender a thread switch each time.
    """

    def __init__(self, conn: smtplib.SMTP, poll: float = 1.0) -> None:
        self.conn = conn
        self.cut = False
        self.poll = poll
        self._armed: tuple[float] | None = None  # (deadline,): a new object for each exchange
        self._lock = threading.Lock()  # a cut and the end of an exchange never overlap
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smtp-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closed.is_set():
            armed = self._armed
            left = self.poll if armed is None else min(armed[0] - time.monotonic(), self.poll)
            if left > 0:
                self._closed.wait(left)
                continue
            with self._lock:
                if self._armed is not armed:
                    continue  # that exchange ended (and maybe another began) meanwhile
                self._armed = None
                self.cut = True
                sock = getattr(self.conn, "sock", None)
                if sock is not None:
                    with suppress(OSError):  # already closed: nothing left to cut
                        sock.shutdown(socket.SHUT_RDWR)

    @contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        self._armed = (time.monotonic() + seconds,)
        try:
            yield
        finally:
            with self._lock:
                self._armed = None

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)


Gate = Callable[[], None]
Meanwhile = Callable[[], bool]  # one piece of the sender's own work; False: none is left
_LEADING_DOT = re.compile(rb"(?m)^\.")


def wire_data(data: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 4.5.2): a line that begins with a dot gets
    another, and a line with one dot ends it. What `smtplib.SMTP.data` sends for bytes."""
    stuffed = _LEADING_DOT.sub(b"..", data)
    return stuffed + (b".\r\n" if stuffed.endswith(b"\r\n") else b"\r\n.\r\n")


def _refused(conn: smtplib.SMTP, code: int) -> None:
    """After a refusal, as `sendmail` does: 421 means the server is closing; else RSET."""
    if code == 421:
        conn.close()
    else:
        with suppress(smtplib.SMTPServerDisconnected):
            conn.rset()


class SmtpBackend:
    """One SMTP connection for a batch: none, STARTTLS or implicit TLS; optional login.

    `[mail] timeout` bounds the connection set-up (greeting, STARTTLS, login) and each message
    as a whole; past it the connection is cut and the batch waits for its backoff."""

    def __init__(self, config: Config, timeout: float | None = None) -> None:
        self.mail = config.mail
        self.password = os.environ.get(self.mail.smtp_password_env, "")
        self.timeout = float(timeout if timeout is not None else self.mail.timeout)
        self.helo = config.helo_name  # not smtplib's default "[127.0.0.1]"
        self.conn: smtplib.SMTP | None = None
        self.watchdog: _Watchdog | None = None
        self.replies: selectors.BaseSelector | None = None  # the connection's socket, readable?

    def _late(self, what: str) -> DeliveryError:
        return DeliveryError(f"{what}: no complete answer from {self.mail.smtp_host}:"
                             f"{self.mail.smtp_port} within {self.timeout:g} s ([mail] timeout)",
                             connection=True)

    def _connect(self) -> smtplib.SMTP:
        m = self.mail
        conn: smtplib.SMTP
        if m.smtp_security == "ssl":
            conn = smtplib.SMTP_SSL(timeout=self.timeout, local_hostname=self.helo,
                                    context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(timeout=self.timeout, local_hostname=self.helo)
        # Made without a host so the watchdog holds the object before the greeting is read;
        # smtplib names the TLS server by `_host`, which only its constructor sets.
        conn._host = m.smtp_host  # type: ignore[attr-defined]
        watchdog = _Watchdog(conn, poll=min(1.0, self.timeout / 4))
        try:
            with watchdog.within(self.timeout):
                conn.connect(m.smtp_host, m.smtp_port)
                if m.smtp_security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
                if m.smtp_user:
                    conn.login(m.smtp_user, self.password)
            self.watchdog = watchdog
            assert conn.sock is not None  # connected
            self.replies = selectors.DefaultSelector()
            self.replies.register(conn.sock, selectors.EVENT_READ)  # the TLS socket, if any
            return conn
        except smtplib.SMTPResponseException as exc:
            conn.close()  # e.g. a refused login: do not leave the socket open
            watchdog.close()
            if watchdog.cut:
                raise self._late("connection") from exc
            # A refusal before any message (greeting, STARTTLS, a wrong password: 535) says
            # nothing about the messages: they all wait with backoff, one login try per round,
            # and go out once the operator fixes the account. Failing them would lose them.
            answer = _answer(exc.smtp_code, exc.smtp_error).answer
            raise DeliveryError(answer, connection=True) from exc
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            conn.close()  # e.g. STARTTLS failed on an open plain-text connection
            watchdog.close()
            if watchdog.cut:
                raise self._late("connection") from exc
            raise DeliveryError(f"cannot connect to {m.smtp_host}:{m.smtp_port}: {exc}",
                                connection=True) from exc

    def __enter__(self) -> SmtpBackend:
        return self

    def send(self, msg: Outgoing | EmailMessage, gate: Gate | None = None,
             meanwhile: Meanwhile | None = None) -> None:
        """Send one message. `gate` runs while the server reads MAIL FROM, before it can accept
        the message; `meanwhile`, piece by piece, while the server reads the message itself
        (for an Outgoing: at least once, then until its answer is in or `meanwhile` says no
        work is left; an EmailMessage, sent by smtplib whole, leaves no such wait).

        The sender commits the previous message's `sent` mark in the gate and renders the next
        messages meanwhile: both are done while the server works, on this thread, yet no
        message is accepted while the one before it is unmarked. A gate that raises ends the
        connection before DATA, so the server drops this message.
        """
        if self.conn is None:
            self.conn = self._connect()
        conn, watchdog = self.conn, self.watchdog
        assert watchdog is not None
        try:
            with watchdog.within(self.timeout):
                if isinstance(msg, Outgoing):  # already bytes with CRLF: nothing to flatten
                    self._transaction(conn, msg, gate, meanwhile)
                else:
                    if gate is not None:
                        gate()
                    refused = conn.send_message(msg)
                    if refused:  # only possible with several recipients; we send one each
                        code, text = next(iter(refused.values()))
                        raise _answer(code, text)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _answer(code, text) from exc
        except smtplib.SMTPResponseException as exc:  # sender refused, data error, ...
            if watchdog.cut:
                self._drop()
                raise self._late("message") from exc
            raise _answer(exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException, ValueError) as exc:  # gone, timeout, reset
            self._drop()
            if watchdog.cut:
                raise self._late("message") from exc
            raise DeliveryError(f"connection lost: {exc}", connection=True) from exc
        except BaseException:  # the gate failed: this transaction must not reach DATA
            self._drop()
            raise

    def _transaction(self, conn: smtplib.SMTP, msg: Outgoing, gate: Gate | None,
                     meanwhile: Meanwhile | None) -> None:
        """`sendmail` for one recipient, with work of our own slotted into two of its waits.

        smtplib's own steps and refusals (SMTPSenderRefused, SMTPRecipientsRefused,
        SMTPDataError, RSET after a refusal), through its public `putcmd`, `getreply`, `docmd`
        and `send`. `gate` runs once MAIL FROM is written and before its answer is read,
        `meanwhile` once the message is written and until the server's verdict is in: a
        command goes out, our work runs while the server reads it, the answer waits in the
        socket.
        The envelope addresses go out as they were checked when saved (ASCII only: the member
        and config doors accept no other), without `sendmail`'s parsing of each address: a
        tenth of the client's time per message.
        """
        conn.ehlo_or_helo_if_needed()
        size = f" SIZE={len(msg.data)}" if conn.has_extn("size") else ""
        conn.putcmd("MAIL", f"FROM:<{msg.sender}>{size}")
        if gate is not None:
            gate()  # if it raises, the answer is never read: `send` drops the connection
        code, answer = conn.getreply()
        if code != 250:
            _refused(conn, code)
            raise smtplib.SMTPSenderRefused(code, answer, msg.sender)
        code, answer = conn.docmd("RCPT", f"TO:<{msg.recipient}>")
        if code not in (250, 251):
            _refused(conn, code)
            raise smtplib.SMTPRecipientsRefused({msg.recipient: (code, answer)})
        code, answer = conn.docmd("DATA")
        if code != 354:
            _refused(conn, code)
            raise smtplib.SMTPDataError(code, answer)
        conn.send(wire_data(msg.data))
        if meanwhile is not None:
            while meanwhile() and not self._answered():
                pass
        code, answer = conn.getreply()
        if code != 250:
            _refused(conn, code)
            raise smtplib.SMTPDataError(code, answer)

    def _answered(self) -> bool:
        """Whether the server's answer is in (or the connection is gone): tells `meanwhile`
        when to stop, without reading anything."""
        sock = self.conn.sock if self.conn is not None else None
        if self.replies is None or sock is None:
            return True
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True  # decrypted already, so the socket itself may have nothing more
        return bool(self.replies.select(0))

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self._forget()

    def _forget(self) -> None:
        if self.watchdog is not None:
            self.watchdog.close()
        if self.replies is not None:
            self.replies.close()
        self.conn = self.watchdog = self.replies = None

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.conn is not None and self.watchdog is not None:
            try:
                with self.watchdog.within(self.timeout):
                    self.conn.quit()
            except (OSError, smtplib.SMTPException, ValueError):
                self.conn.close()
        self._forget()


class OutboxBackend:
    """Writes each message to `<outbox_dir>/<message id>.eml` atomically (temp + rename)."""

    def __init__(self, config: Config) -> None:
        self.folder = config.outbox_dir

    def __enter__(self) -> OutboxBackend:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OperationalError("[mail] outbox_dir", f"cannot create {self.folder}: {exc}") from exc
        return self

    def path_for(self, message_id: str) -> Path:
        name = re.sub(r"[^A-Za-z0-9@._-]", "_", message_id.strip("<>"))
        return self.folder / f"{name}.eml"

    def send(self, msg: Outgoing | EmailMessage, gate: Gate | None = None,
             meanwhile: Meanwhile | None = None) -> None:
        """Write one message; `gate` runs before the file appears (as before DATA in SMTP).
        Nothing is waited for, so `meanwhile` is not called."""
        if gate is not None:
            gate()
        if isinstance(msg, Outgoing):
            message_id, data = msg.message_id, msg.data
        else:
            message_id, data = str(msg["Message-ID"]), msg.as_bytes()  # msg.policy: CRLF
        path = self.path_for(message_id)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # a resend of the same Message-ID overwrites, never duplicates
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise DeliveryError(f"cannot write {path}: {exc}", connection=True) from exc

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


def open_backend(config: Config) -> SmtpBackend | OutboxBackend:
    return SmtpBackend(config) if config.mail.backend == "smtp" else OutboxBackend(config)


def preview(session: Session, config: Config, deadline_id: str, email: str | None,
            now: datetime) -> EmailMessage:
    """The reminder a member (else the first follower, else a sample member) would get now."""
    deadline = get_deadline(session, deadline_id)
    member: Member | None
    if email:
        member = get_member(session, email)
    else:
        series = deadline.all_series
        member = next((m for m in session.scalars(
            select(Member).where(Member.active.is_(True), Member.mail.is_(True))
            .order_by(Member.id))
            if m.follows(series, deadline.kind)), None)
        if member is None:  # not stored: only to show what the mail looks like
            member = Member(id=0, email="member@example.org", name="Sample Member",
                            tz=deadline.tz, unsubscribe_token="SAMPLE-TOKEN")
    kind = "cancelled" if deadline.status == "cancelled" else "reminder"
    message_id = make_message_id(kind, member.id, deadline.id, "preview", deadline.sequence,
                                 sender_domain(config.mail.sender))
    return render(config, kind, deadline, member, message_id, now)
