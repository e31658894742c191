"""A real SMTP server on loopback (aiosmtpd) for the mail tests, with a switchable answer."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

MESSAGE_ID = re.compile(rb"^Message-ID: (.*?)\r?\n", re.M | re.I)


def message_id(raw: bytes) -> str:
    """The Message-ID header of one accepted message, read from its raw bytes.

    A regex, not the email parser: parsing 3,000 MIME messages would take longer than sending.
    """
    found = MESSAGE_ID.search(raw)
    assert found, "a message without a Message-ID"
    return found.group(1).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tls_version(server: object) -> str | None:
    """The TLS version of the server side of a connection ('TLSv1.3'), None in plain text.

    Asked of the transport, not of `session.ssl`: aiosmtpd sets that only after STARTTLS,
    never for implicit TLS.
    """
    transport = getattr(server, "transport", None)
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    return ssl_object.version() if ssl_object is not None else None


@dataclass(frozen=True)
class Seen:
    """How the session that delivered one message looked to the server."""

    peer: tuple[str, int]  # the client's address and port: one port = one connection
    tls: str | None  # the transport's TLS version, None for plain text
    starttls: bool  # aiosmtpd's session.ssl is set: upgraded by STARTTLS
    login: str | None  # the user AUTH accepted, None when not authenticated
    helo: str | None = None  # the name the client greeted with (HELO/EHLO)


class Recorder:
    """aiosmtpd handler: keeps what it accepted; `answer` (e.g. '451 busy') refuses instead."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.seen: list[Seen] = []  # one per accepted message, in the order of `received`
        self.answer: str | None = None
        self.delay = 0.0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer:
            return self.answer
        with self.lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos),  # type: ignore[attr-defined]
                                  bytes(envelope.original_content)))  # type: ignore[attr-defined]
            login = getattr(session, "login_data", None) if getattr(
                session, "authenticated", False) else None
            self.seen.append(Seen(tuple(session.peer), tls_version(server),  # type: ignore[attr-defined]
                                  getattr(session, "ssl", None) is not None,
                                  login.decode() if isinstance(login, bytes) else login,
                                  getattr(session, "host_name", None)))
        return "250 2.0.0 OK queued"


class Authenticator:
    """aiosmtpd `authenticator`: accepts one login and password, and only over TLS.

    Refusing in plain text here too makes a pass prove the password never crossed the wire
    unencrypted, also for implicit TLS where aiosmtpd's own `auth_require_tls` cannot be
    used (it only counts STARTTLS, aio-libs/aiosmtpd#274 and #281).
    """

    def __init__(self, login: str, password: str) -> None:
        self.login, self.password = login.encode(), password.encode()
        self.attempts: list[tuple[str, bool, str | None]] = []  # (login, accepted, TLS version)
        self.lock = threading.Lock()

    def __call__(self, server: object, session: object, envelope: object, mechanism: str,
                 auth_data: object) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        tls = tls_version(server)
        ok = tls is not None and (auth_data.login, auth_data.password) == (self.login,
                                                                           self.password)
        with self.lock:
            self.attempts.append((auth_data.login.decode(), ok, tls))
        if not ok:  # handled=False: aiosmtpd answers "535 5.7.8 ..." (the default stays silent)
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)


class SmtpServer:
    """Start/stop an aiosmtpd Controller on a fixed loopback port (stop = an outage).

    `controller` goes to the Controller as is: `ssl_context=` for implicit TLS, SMTP options
    such as `tls_context=`, `require_starttls=`, `authenticator=` for STARTTLS and AUTH.
    """

    def __init__(self, port: int | None = None, **controller: object) -> None:
        self.port = port or free_port()
        self.handler = Recorder()
        self.controller_kwargs = controller
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     **self.controller_kwargs)  # type: ignore[arg-type]
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            raw = [r[2] for r in self.handler.received]
        return [message_from_bytes(b, policy=policy.default) for b in raw]  # type: ignore[misc]

    @property
    def count(self) -> int:
        with self.handler.lock:
            return len(self.handler.received)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()
