"""At most one message in flight: the server never accepts a message while the one before it
is still unmarked, though each mark commits only while the server reads the next MAIL FROM.

The server checks the database itself whenever a message arrives; one mark is made slow by a
transaction that holds its row (so a sender that did not wait for it would be caught), and one
mark is made to fail (so a sender that went on after it would deliver a message too many).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.helpers.remind_data import add_deadline_at, add_members, make_config
from tests.helpers.smtp_server import Recorder, SmtpServer, message_id
from tracker.db.engine import session_scope
from tracker.errors import OperationalError
from tracker.records.models import Deadline, Member
from tracker.reminders.mail import Addressee, Composer
from tracker.reminders.mime import Outgoing
from tracker.reminders.tables import OutboxRow
from tracker.scheduler.round import run_round

NOW = datetime(2024, 10, 3, 10, 0, tzinfo=UTC)
COUNT = 12  # members; three reminders each, of which one or two are due at NOW
LEASE = timedelta(seconds=2)


def _sent(url: str) -> set[str]:
    with session_scope(url) as s:
        return set(s.scalars(select(OutboxRow.message_id).where(OutboxRow.state == "sent")))


class Checking(Recorder):
    """Records, and notes each arrival that finds an earlier message still unmarked.

    `hold`: after accepting that many messages, a transaction holds the row of the last one
    for `seconds` (its `sent` mark waits). `fail`: after that many, the outbox table is
    renamed, so the last one's mark fails.
    """

    def __init__(self, url: str, hold: int = 0, seconds: float = 0.0, fail: int = 0) -> None:
        super().__init__()
        self.url, self.hold, self.seconds, self.fail = url, hold, seconds, fail
        self.unmarked: list[tuple[int, set[str]]] = []
        self.renamed = False
        self.threads: list[threading.Thread] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        earlier = {message_id(r[2]) for r in self.received}
        missing = earlier - _sent(self.url) if not self.renamed else set()
        if missing:
            self.unmarked.append((len(earlier), missing))
        answer = await super().handle_DATA(server, session, envelope)
        n = len(self.received)
        if n == self.hold:
            self._hold(message_id(self.received[-1][2]))
        if n == self.fail:
            with session_scope(self.url) as s:
                s.execute(text("ALTER TABLE reminders RENAME TO reminders_away"))
            self.renamed = True  # the test renames it back; accept whatever comes meanwhile
        return answer

    def _hold(self, message_id: str) -> None:
        taken = threading.Event()

        def hold() -> None:
            with session_scope(self.url) as s:  # an UPDATE: the row's lock (SQLite: the file's)
                s.execute(text("UPDATE reminders SET updated_at = updated_at "
                               "WHERE message_id = :m"), {"m": message_id})
                taken.set()
                time.sleep(self.seconds)

        thread = threading.Thread(target=hold)
        thread.start()
        self.threads.append(thread)
        assert taken.wait(10)


def _setup(tmp_path: Path, url: str, handler: Checking) -> tuple[SmtpServer, object]:
    add_members(url, NOW - timedelta(days=30), COUNT)
    add_deadline_at(url, NOW - timedelta(days=30), "reg", "4 Oct 2024 18:00")  # "1d": due now
    server = SmtpServer()
    server.handler = handler
    server.start()
    config = make_config(tmp_path, url, backend="smtp", smtp_host="127.0.0.1",
                         smtp_port=server.port)
    return server, config


def test_no_message_is_accepted_while_the_one_before_is_unmarked(
    tmp_path: Path, db_url: str
) -> None:
    handler = Checking(db_url, hold=3, seconds=0.5)
    server, config = _setup(tmp_path, db_url, handler)
    try:
        began = time.monotonic()
        report = run_round(config, lambda: NOW, "t", batch=COUNT)  # type: ignore[arg-type]
        took = time.monotonic() - began
    finally:
        server.stop()
        for thread in handler.threads:
            thread.join()
    assert report.sent == server.count >= COUNT
    assert handler.unmarked == []
    assert took >= 0.5  # the third mark did wait for the holding transaction


def test_a_mark_that_fails_stops_the_batch_before_the_next_message(
    tmp_path: Path, db_url: str
) -> None:
    handler = Checking(db_url, fail=3)
    server, config = _setup(tmp_path, db_url, handler)
    try:
        with pytest.raises(OperationalError, match="cannot mark"):
            run_round(config, lambda: NOW, "t", batch=COUNT, lease=LEASE)  # type: ignore[arg-type]
        assert server.count == 3  # the fourth never reached DATA
        with session_scope(db_url) as s:
            s.execute(text("ALTER TABLE reminders_away RENAME TO reminders"))
        handler.renamed = False
        third = message_id(handler.received[2][2])
        assert _sent(db_url) == {message_id(r[2]) for r in handler.received[:2]}
        # The lease runs out; the next round sends the rest, and the third again with the
        # same Message-ID: the one message a crash at that point may repeat.
        later = run_round(config, lambda: NOW + 2 * LEASE, "t",  # type: ignore[arg-type]
                          batch=COUNT, lease=LEASE)
    finally:
        server.stop()
    ids = [message_id(r[2]) for r in handler.received]
    assert later.sent == len(ids) - 3 and ids.count(third) == 2 and len(set(ids)) == len(ids) - 1
    assert _sent(db_url) == set(ids)
    # Until its resend was marked, each arrival found the third unmarked, and nothing else.
    assert handler.unmarked and all(missing == {third} for _, missing in handler.unmarked)


def test_an_unexpected_error_rendering_ahead_comes_after_the_messages_before_it(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages are rendered while the server reads earlier ones. A render that fails with an
    error nobody expected (a bug, not a bad row) must not cut off the message in flight: the
    ones before it arrive and are marked, it and the rest stay claimed for the next round."""
    handler = Checking(db_url)
    server, config = _setup(tmp_path, db_url, handler)
    real = Composer.compose

    def compose(self: Composer, kind: str, deadline: Deadline, member: Addressee,
                *args: Any, **kwargs: Any) -> Outgoing:
        if member.email == "m0005@example.net":
            raise RuntimeError("a bug in rendering")
        return real(self, kind, deadline, member, *args, **kwargs)

    monkeypatch.setattr(Composer, "compose", compose)
    try:
        with pytest.raises(RuntimeError, match="a bug in rendering"):
            run_round(config, lambda: NOW, "t", batch=COUNT)  # type: ignore[arg-type]
    finally:
        server.stop()
    with session_scope(db_url) as s:  # the batch, in the order it was claimed and sent
        batch = s.execute(
            select(Member.email, OutboxRow.state, OutboxRow.message_id)
            .join(Member, Member.id == OutboxRow.member_id)
            .where(OutboxRow.state.in_(("sent", "claimed")))
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)).all()
    k = [email for email, _, _ in batch].index("m0005@example.net")
    assert k > 0 and [state for _, state, _ in batch] == ["sent"] * k + ["claimed"] * (len(batch) - k)
    assert [message_id(r[2]) for r in handler.received] == [m for _, _, m in batch[:k]]
    assert handler.unmarked == []
