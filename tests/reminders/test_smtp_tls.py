"""STARTTLS, implicit TLS and AUTH against a real aiosmtpd on loopback, with a throw-away CA.

The client trusts the CA the way a deployment would: SSL_CERT_FILE names the CA file, and the
backend's `ssl.create_default_context()` reads it (OpenSSL's default verify paths) each time it
is called. Without it the system trust store is used, which has never heard of this CA.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from sqlalchemy import select

from tests.helpers.cli import Cli
from tests.helpers.remind_data import add_deadline_at, add_members, make_config
from tests.helpers.smtp_server import Authenticator, SmtpServer
from tracker.config import Config
from tracker.db.engine import session_scope
from tracker.reminders.tables import OutboxRow
from tracker.scheduler.round import run_round

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
SEND = datetime(2024, 10, 13, 14, 0, tzinfo=UTC)  # every member's "1d" moment has come
USER, PASSWORD = "tracker-bot", "correct horse battery staple"
PASSWORD_ENV = "TRACKER_TEST_SMTP_PASSWORD"  # the name the config gives, not the default
MODES = ["starttls", "ssl"]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def trust(ca: trustme.CA, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Trust the throw-away CA as a deployment trusts a private CA: through SSL_CERT_FILE."""
    path = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    return path


@pytest.fixture
def trust_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return trust(ca, tmp_path, monkeypatch)


@pytest.fixture
def system_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the system trust store: the certificate's CA is unknown to the client."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def start_server(mode: str, context: ssl.SSLContext, auth: Authenticator) -> SmtpServer:
    if mode == "starttls":  # plain text until STARTTLS; no MAIL and no AUTH before it
        return SmtpServer(tls_context=context, require_starttls=True, authenticator=auth,
                          auth_require_tls=True).start()
    # Implicit TLS: aiosmtpd's auth_require_tls counts only STARTTLS (aio-libs/aiosmtpd#274),
    # so it is off here; the Authenticator itself refuses any login over plain text.
    return SmtpServer(ssl_context=context, authenticator=auth, auth_require_tls=False).start()


@pytest.fixture(params=MODES)
def secure(request: pytest.FixtureRequest,
           server_context: ssl.SSLContext) -> Iterator[tuple[str, SmtpServer, Authenticator]]:
    auth = Authenticator(USER, PASSWORD)
    server = start_server(request.param, server_context, auth)
    try:
        yield request.param, server, auth
    finally:
        server.stop()


def smtp_config(tmp_path: Path, url: str, server: SmtpServer, security: str) -> Config:
    return make_config(tmp_path, url, backend="smtp", smtp_host="127.0.0.1",
                       smtp_port=server.port, smtp_security=security, smtp_user=USER,
                       smtp_password_env=PASSWORD_ENV)


def rows(url: str) -> list[tuple[str, str | None, int]]:
    """(state, last error, attempts) of the reminders due now; the superseded ones left out."""
    with session_scope(url) as s:
        return [(r.state, r.last_error, r.attempts) for r in s.scalars(
            select(OutboxRow).where(OutboxRow.state != "skipped").order_by(OutboxRow.id))]


def remind_status(tmp_path: Path, url: str) -> str:
    """`tracker remind status` run by the CLI on the same database."""
    config_file = tmp_path / "status.toml"
    config_file.write_text('[tracker]\nbase_url = "https://tracker.example.org/"\n',
                           encoding="utf-8")
    return Cli(config_file).ok("--db", url, "remind", "status").output


def test_batch_goes_over_one_encrypted_authenticated_connection(
    tmp_path: Path, sqlite_url: str, secure: tuple[str, SmtpServer, Authenticator],
    trust_ca: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    mode, server, auth = secure
    emails = add_members(sqlite_url, NOW, 4)
    add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv("TRACKER_SMTP_PASSWORD", raising=False)  # only the configured name counts
    report = run_round(smtp_config(tmp_path, sqlite_url, server, mode), lambda: SEND, "test")
    assert (report.sent, report.retried, report.failed) == (4, 0, 0)
    assert sorted(m["To"].addresses[0].addr_spec for m in server.messages) == emails
    seen = server.handler.seen
    assert len(seen) == 4 and len({s.peer for s in seen}) == 1  # one connection for the batch
    assert {s.tls for s in seen} <= {"TLSv1.2", "TLSv1.3"}
    assert {s.starttls for s in seen} == {mode == "starttls"}  # upgraded, or TLS from the start
    assert {s.login for s in seen} == {USER}
    assert len(auth.attempts) == 1 and auth.attempts[0][:2] == (USER, True)  # AUTH once
    assert auth.attempts[0][2] in ("TLSv1.2", "TLSv1.3")
    with session_scope(sqlite_url) as s:
        sent = set(s.scalars(select(OutboxRow.message_id).where(OutboxRow.state == "sent")))
    assert sent == {m["Message-ID"] for m in server.messages}


def test_plain_text_against_a_starttls_server_never_sends_the_password(
    tmp_path: Path, sqlite_url: str, server_context: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`smtp_security = "none"` by mistake: the server offers no AUTH before STARTTLS."""
    auth = Authenticator(USER, PASSWORD)
    server = start_server("starttls", server_context, auth)
    try:
        add_members(sqlite_url, NOW, 2)
        add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        report = run_round(smtp_config(tmp_path, sqlite_url, server, "none"), lambda: SEND,
                           "test")
    finally:
        server.stop()
    assert (report.sent, report.retried, report.failed) == (0, 2, 0)
    assert server.count == 0 and auth.attempts == []
    assert [state for state, _, _ in rows(sqlite_url)] == ["pending", "pending"]
    assert {error for _, error, _ in rows(sqlite_url)} == {
        f"cannot connect to 127.0.0.1:{server.port}: SMTP AUTH extension not supported by server."}


def test_wrong_password_keeps_the_rows_and_sends_them_once_fixed(
    tmp_path: Path, sqlite_url: str, secure: tuple[str, SmtpServer, Authenticator],
    trust_ca: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused login is the account's problem, not the messages': nothing is lost, the
    batch waits with backoff after ONE connection (no storm of logins), and the answer shows."""
    mode, server, auth = secure
    add_members(sqlite_url, NOW, 3)
    add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    config = smtp_config(tmp_path, sqlite_url, server, mode)
    report = run_round(config, lambda: SEND, "test")
    assert (report.sent, report.retried, report.failed) == (0, 3, 0) and server.count == 0
    answer = "535 5.7.8 Authentication credentials invalid"
    assert rows(sqlite_url) == [("pending", answer, 1)] * 3
    # One connection for the whole batch, over TLS; smtplib tries PLAIN, then LOGIN.
    assert auth.attempts == [(USER, False, auth.attempts[0][2])] * 2
    assert auth.attempts[0][2] in ("TLSv1.2", "TLSv1.3")
    status = remind_status(tmp_path, sqlite_url)
    assert "pending  3" in status and "failed   0" in status
    for i in range(3):
        assert f"pending: m{i:04d}@example.net / cop12-reg: {answer}" in status
    # The operator fixes the password: after the backoff the same rows go out, once each.
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    assert run_round(config, lambda: SEND + timedelta(seconds=30), "test").sent == 3
    assert server.count == 3 and [a[:2] for a in auth.attempts[2:]] == [(USER, True)]
    assert {state for state, _, _ in rows(sqlite_url)} == {"sent"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("problem", ["unknown-ca", "other-name"])
def test_untrusted_certificate_sends_nothing_and_keeps_the_rows_for_retry(
    tmp_path: Path, sqlite_url: str, ca: trustme.CA, server_context: ssl.SSLContext,
    mode: str, problem: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A certificate the client cannot verify is a connection failure: no AUTH, no mail."""
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    if problem == "unknown-ca":  # only the system trust store, which lacks this CA
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        context = server_context
        reason = "unable to get local issuer certificate"
    else:  # a trusted CA, but the certificate names another host
        trust(ca, tmp_path, monkeypatch)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("mail.example.org").configure_cert(context)
        reason = "IP address mismatch"
    auth = Authenticator(USER, PASSWORD)
    server = start_server(mode, context, auth)
    try:
        add_members(sqlite_url, NOW, 3)
        add_deadline_at(sqlite_url, NOW, "cop12-reg", "14 Oct 2024 noon")
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        config = smtp_config(tmp_path, sqlite_url, server, mode)
        report = run_round(config, lambda: SEND, "test")
        assert (report.sent, report.retried, report.failed) == (0, 3, 0)
        assert server.count == 0 and auth.attempts == []  # the password never left the client
        stored = rows(sqlite_url)
        assert [(state, attempts) for state, _, attempts in stored] == [("pending", 1)] * 3
        error = stored[0][1]
        assert error is not None and {e for _, e, _ in stored} == {error}
        assert error.startswith(f"cannot connect to 127.0.0.1:{server.port}: ")
        assert "CERTIFICATE_VERIFY_FAILED" in error and reason in error
        status = remind_status(tmp_path, sqlite_url)
        assert "pending  3" in status and "failed   0" in status
        # first backoff: retry_seconds = 30; shown in the secretary's zone, then in UTC
        assert ("next due: Sun 13 Oct 2024 16:00 CEST (Europe/Vienna), 2024-10-13T14:00:30Z"
                in status)
        assert f"pending: m0000@example.net / cop12-reg: {error}" in status
        if problem == "unknown-ca":  # the operator installs the CA: the same rows go out
            trust(ca, tmp_path, monkeypatch)
            assert run_round(config, lambda: SEND + timedelta(seconds=10), "test").sent == 0
            assert run_round(config, lambda: SEND + timedelta(seconds=30), "test").sent == 3
            assert server.count == 3 and [a[:2] for a in auth.attempts] == [(USER, True)]
    finally:
        server.stop()
