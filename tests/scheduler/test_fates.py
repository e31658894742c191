"""Publishing and sending are separate fates; no SMTP exchange waits without an end; the exit
status of `remind send-due` tells cron whether due mail went out."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.helpers.cli import Cli
from tests.helpers.remind_data import add_deadline_at, add_members, make_config
from tests.helpers.smtp_server import free_port
from tracker.config import Config
from tracker.db.engine import session_scope
from tracker.reminders.tables import OutboxRow
from tracker.scheduler.round import FeedPublisher, run_round

NOW = datetime(2024, 10, 3, 10, 0, tzinfo=UTC)


def due_now(tmp_path: Path, url: str, **mail: object) -> Config:
    """Six members and a deadline whose "1d" reminders are due at NOW."""
    add_members(url, NOW - timedelta(days=30), 6)
    add_deadline_at(url, NOW - timedelta(days=30), "reg", "4 Oct 2024 18:00")
    return make_config(tmp_path, url, **mail)


def states(url: str) -> list[tuple[str, datetime | None, str | None]]:
    with session_scope(url) as s:
        return [(r.state, r.next_attempt_at, r.last_error) for r in s.scalars(select(OutboxRow))]


def test_unwritable_calendars_folder_does_not_stop_sending(tmp_path: Path, sqlite_url: str) -> None:
    config = due_now(tmp_path, sqlite_url)
    (tmp_path / "calendars").write_text("a file where the folder should be")  # root too fails
    publisher = FeedPublisher()
    report = run_round(config, lambda: NOW, "t", publish=publisher)
    assert report.sent == 6
    assert report.publish_error and "calendars" in report.publish_error
    (tmp_path / "calendars").unlink()  # fixed: the next round publishes
    again = run_round(config, lambda: NOW + timedelta(seconds=15), "t", publish=publisher)
    assert "all.ics" in again.published and again.publish_error == ""


def test_mail_server_down_feeds_still_publish(tmp_path: Path, sqlite_url: str) -> None:
    config = due_now(tmp_path, sqlite_url, backend="smtp", smtp_host="127.0.0.1",
                     smtp_port=free_port(), timeout=2)
    report = run_round(config, lambda: NOW, "t", publish=FeedPublisher())
    assert report.sent == 0 and report.retried == 6
    assert (tmp_path / "calendars" / "all.ics").is_file()


@pytest.fixture
def dripping() -> Iterator[int]:
    """A server that greets with a `220-` continuation line every 0.3 s and never finishes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                while not stop.wait(0.3):
                    try:
                        conn.sendall(b"220-still saying hello\r\n")
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_dripping_server_is_cut_after_the_deadline(tmp_path: Path, sqlite_url: str,
                                                   dripping: int) -> None:
    config = due_now(tmp_path, sqlite_url, backend="smtp", smtp_host="127.0.0.1",
                     smtp_port=dripping, timeout=2)
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(run_round(config, lambda: NOW, "t")),
                              daemon=True)
    worker.start()
    worker.join(timeout=60)  # a bound for the test only: without a deadline it never returns
    assert done, "the round is still waiting for the dripping server"
    report = done[0]
    assert report.sent == 0 and report.retried == 6  # type: ignore[attr-defined]
    rows = states(sqlite_url)
    pending = [(at, error) for state, at, error in rows if state == "pending" and error]
    assert len(pending) == 6 and {state for state, _, _ in rows} <= {"pending", "skipped"}
    assert all(at is not None and at > NOW and "timeout" in (error or "")
               for at, error in pending)  # back with backoff, the deadline named


def _cli_with_mail(config_file: Path, port: int) -> Cli:
    with config_file.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[mail]\nbackend = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
                 "timeout = 2\n")
    cli = Cli(config_file)
    cli.ok("init")
    return cli


def test_send_due_exits_1_when_due_mail_could_not_go_out(config_file: Path) -> None:
    cli = _cli_with_mail(config_file, free_port())  # nothing listens there
    due = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    cli.ok("member", "add", "amina@example.org", "--tz", "Africa/Lagos")
    cli.ok("deadline", "add", "Statements", "--due", f"{due:%Y-%m-%dT%H:%M}Z", "--remind", "4h")
    result = cli("remind", "send-due")
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "1 due reminder" in errors[0] and "not sent" in errors[0]


def test_send_due_exits_0_when_nothing_is_due(config_file: Path) -> None:
    cli = _cli_with_mail(config_file, free_port())
    assert cli("remind", "send-due").exit_code == 0
