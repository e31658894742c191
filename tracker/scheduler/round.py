"""One scheduler round: sync the outbox, publish feeds if changed, claim, send, mark.

Used by the scheduler loop and by `tracker remind send-due`. These are the edge of the
reminders and feeds services: they own their transactions (one per claim, one per mark), which
is why they take the Config and open sessions while everything below takes a Session. The clock is a parameter (`clock`), read
only when a step needs the current instant (claim, mark), so tests can run a round at a fixed
moment. Each claim and each mark is its own short transaction: a `kill -9` at any point leaves
either a claimed row (its lease expires, it is sent again with the same Message-ID) or a row
correctly marked; nothing is lost and at most the one message in flight repeats.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Concatenate, ParamSpec

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.orm import Session, selectinload

from tracker.config import Config
from tracker.db.engine import PUBLISH_LOCK, get_engine, session_scope, transaction_lock
from tracker.errors import ROW_ERRORS, OperationalError, TrackerError
from tracker.feeds.publish import PublishResult, render_public, write_public
from tracker.feeds.render import FeedSettings
from tracker.records.models import Deadline, Event
from tracker.reminders import outbox
from tracker.reminders.mail import (
    Composer,
    DeliveryError,
    Recipient,
    open_backend,
    recipients,
    render,
)
from tracker.reminders.mime import Outgoing
from tracker.reminders.outbox import Claimed

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
P = ParamSpec("P")


@dataclass
class RoundReport:
    sync: outbox.SyncReport = field(default_factory=outbox.SyncReport)
    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    published: list[str] = field(default_factory=list)
    publish_error: str = ""  # why publishing failed this round (it is tried again next round)
    last_answer: str = ""  # the mail server's latest refusal, for `remind send-due`
    would_send: list[tuple[Claimed, str, str]] = field(default_factory=list)  # dry run
    would_skip: list[tuple[Claimed, str]] = field(default_factory=list)


def _load(session: Session, rows: list[Claimed]) -> tuple[dict[str, Deadline], dict[int, Recipient]]:
    deadlines = {d.id: d for d in session.scalars(
        select(Deadline).where(Deadline.id.in_({r.deadline_id for r in rows}))
        .options(selectinload(Deadline.event)))}
    return deadlines, recipients(session, (r.member_id for r in rows))


def _mark(config: Config, fn: Callable[Concatenate[Session, P], object], *args: P.args,
          **kwargs: P.kwargs) -> None:
    with session_scope(config.database_url) as s:
        fn(s, *args, **kwargs)


def _mark_sent(marks: outbox.SentMarks, row: Claimed, owner: str, now: datetime) -> None:
    """Commit the `sent` mark now, on the batch's own connection (no session per message)."""
    try:
        marks.mark(row.id, owner, now)  # autocommit: committed when this returns
    except SAOperationalError as exc:
        raise OperationalError("database", f"cannot mark {row.message_id} sent: {exc.orig}") from exc


class _MarkBehind:
    """Holds the last `sent` mark until the next message's MAIL FROM is on its way.

    A message costs a mail exchange (4 round trips) and a database round trip for its mark;
    one after the other, both were waited for in turn. Here a message's mark is committed while
    the server reads the next one's MAIL FROM (the backend's gate): the server never accepts a
    message while the one before it is unmarked, so a crash repeats at most the one message in
    flight. It used to be committed by a helper thread during MAIL and RCPT; on this thread,
    in the server's time, the sender no longer fights that thread for the GIL.
    """

    def __init__(self, marks: outbox.SentMarks) -> None:
        self.marks = marks
        self.pending: tuple[Claimed, str, datetime] | None = None

    def mark(self, row: Claimed, owner: str, now: datetime) -> None:
        self.settle()  # already done by the gate; never hold two
        self.pending = (row, owner, now)

    def settle(self) -> None:
        """Commit the held `sent` mark; raises its error (the batch must stop there)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            _mark_sent(self.marks, *pending)


RENDER_AHEAD = 50


class _Ahead:
    """The batch's messages, rendered while the server reads the ones before them.

    Rendering is pure CPU. The backend calls `render_next` once a message is written and
    until the server's verdict is in (its `meanwhile`), so with the mail server in another
    process or on another machine, as any real MTA is, rendering costs the send path nothing.
    Renders come in runs, from when fewer than RENDER_AHEAD / 2 messages wait until
    RENDER_AHEAD do: one render between two exchanges costs about twice the CPU of one in a
    run (0.25 ms against 0.15: cold caches). A server sharing this process's GIL (aiosmtpd as
    a thread, in the benchmark) cannot answer while a run goes on, so the run finishes in one
    wait, as a run before sending would. With this and `_MarkBehind`, `bench/mail_bench.py`
    on PostgreSQL went from 0.63 to about 0.8 of bare smtplib with the server in a child
    process, and stayed at 0.6-0.65 with it as a thread (one render per exchange there: 0.56-0.62).
    `take` renders a run when nothing is ready (a batch's first message; the outbox folder,
    which waits for nothing). At most RENDER_AHEAD messages wait: `[mail] batch_size` may be
    10,000 (about 50 MB of messages), and a message should show the clock of its sending, give
    or take a run. An unexpected error is kept and raised on its row's turn, after the messages
    before it went out and were marked.
    """

    def __init__(self, compose: Callable[[Claimed], Outgoing | str], rows: list[Claimed]) -> None:
        self.compose, self.rows = compose, rows
        self.ready: deque[Outgoing | str | Exception] = deque()  # rows[next - len(ready):next]
        self.next = 0
        self.filling = False

    def render_next(self) -> bool:
        """Render one more message, if a run is on; False when there is nothing to do now."""
        if len(self.ready) < RENDER_AHEAD // 2:
            self.filling = True
        self.filling = self.filling and self._render_one()
        return self.filling

    def _render_one(self) -> bool:
        if self.next >= len(self.rows) or len(self.ready) >= RENDER_AHEAD:
            return False
        try:
            self.ready.append(self.compose(self.rows[self.next]))
        except Exception as exc:  # raised by `take`, on the sender's own turn
            self.ready.append(exc)
        self.next += 1
        return True

    def take(self) -> Outgoing | str:
        """The next row's message (the sender takes the rows in order, each once)."""
        if not self.ready:
            while self._render_one():
                pass
        msg = self.ready.popleft()
        if isinstance(msg, Exception):
            raise msg
        return msg


def deliver(config: Config, rows: list[Claimed], clock: Clock, owner: str, lease: timedelta,
            stop: threading.Event | None = None) -> RoundReport:
    """Render and send claimed rows over one backend connection, marking each as it goes."""
    report = RoundReport()
    first = timedelta(seconds=config.mail.retry_seconds)
    with session_scope(config.database_url) as s:
        deadlines, members = _load(s, rows)
    renewed = time.monotonic()
    composer = Composer(config)  # the .ics and fixed headers once per batch

    def compose(row: Claimed) -> Outgoing | str:
        """The message, or why it cannot be rendered (a row no door lets in today)."""
        try:
            return composer.compose(row.kind, deadlines[row.deadline_id], members[row.member_id],
                                    row.message_id, clock(), was_due=row.was_due_at)
        except ROW_ERRORS as exc:
            return f"cannot be rendered: {exc or type(exc).__name__}"

    with open_backend(config) as backend, \
            outbox.marks_connection(get_engine(config.database_url)) as conn:
        behind, ahead = _MarkBehind(outbox.SentMarks(conn)), _Ahead(compose, rows)

        def record(fn: Callable[Concatenate[Session, P], object], *args: P.args,
                   **kwargs: P.kwargs) -> None:
            """Any other state change, once the held `sent` mark has committed."""
            behind.settle()
            _mark(config, fn, *args, **kwargs)

        try:  # whatever ends the batch, the message the server accepted last is marked
            for i, row in enumerate(rows):
                if stop is not None and stop.is_set():
                    record(outbox.release, [r.id for r in rows[i:]], owner, clock())
                    report.released += len(rows) - i
                    break
                if time.monotonic() - renewed > lease.total_seconds() / 3:
                    record(outbox.renew, [r.id for r in rows[i:]], owner, clock(), lease)
                    renewed = time.monotonic()
                msg = ahead.take()
                if isinstance(msg, str):
                    log.warning("%s %s", row.message_id, msg)
                    record(outbox.mark_failed, row, owner, clock(), msg)
                    report.failed += 1
                    continue
                try:
                    backend.send(msg, gate=behind.settle, meanwhile=ahead.render_next)
                except DeliveryError as exc:  # maybe refused before the gate ran: record waits
                    report.last_answer = exc.answer
                    if exc.permanent:
                        log.warning("permanent failure for %s: %s", row.message_id, exc.answer)
                        record(outbox.mark_failed, row, owner, clock(), exc.answer)
                        report.failed += 1
                        continue
                    log.info("temporary failure for %s: %s", row.message_id, exc.answer)
                    record(outbox.mark_retry, row, owner, clock(), exc.answer, first)
                    report.retried += 1
                    if exc.connection:  # the server is unreachable: the rest wait for backoff
                        for rest in rows[i + 1:]:
                            record(outbox.mark_retry, rest, owner, clock(), exc.answer, first)
                            report.retried += 1
                        break
                    continue
                # The server has the message. A crash before this mark commits re-sends it
                # later with the same Message-ID (see tracker.reminders.outbox): the one window
                # no system can close. The next message's gate commits it before its DATA.
                behind.mark(row, owner, clock())
                report.sent += 1
        finally:
            behind.settle()
    return report


def run_round(config: Config, clock: Clock, owner: str, *, batch: int = 100,
              lease: timedelta = timedelta(minutes=5), stop: threading.Event | None = None,
              publish: Callable[[Config, datetime], list[str]] | None = None) -> RoundReport:
    """sync -> publish (if given) -> claim/send/mark batches until nothing is due or `stop`."""
    report = RoundReport()
    with session_scope(config.database_url) as s:
        report.sync = outbox.sync(s, config, clock())
    if report.sync:
        log.info("sync: %s", report.sync)
    if publish is not None:
        # A full or read-only calendars folder must not keep reminders from going out: the
        # failure is logged and the publisher (whose fingerprint did not move) tries again.
        try:
            report.published = publish(config, clock())
        except Exception as exc:
            report.publish_error = str(exc) or type(exc).__name__
            log.error("publishing failed, will retry next round: %s", report.publish_error,
                      exc_info=not isinstance(exc, OSError | TrackerError))
    while stop is None or not stop.is_set():
        with session_scope(config.database_url) as s:
            rows = outbox.claim_due(s, clock(), owner, batch, lease)
        if not rows:
            break
        done = deliver(config, rows, clock, owner, lease, stop)
        report.sent += done.sent
        report.retried += done.retried
        report.failed += done.failed
        report.released += done.released
        report.last_answer = done.last_answer or report.last_answer
        if done.sent == 0 and done.failed == 0:
            break  # everything came back for retry: wait for the backoff, do not spin
    return report


def dry_run(config: Config, now: datetime, limit: int = 1000) -> RoundReport:
    """What a round would do at `now`: sync and look, then roll everything back."""
    report = RoundReport()
    with Session(get_engine(config.database_url)) as s:
        try:
            report.sync = outbox.sync(s, config, now)
            take, skip = outbox.due_rows(s, now, limit)
            deadlines, members = _load(s, take)
            unrendered: list[tuple[Claimed, str]] = []
            for row in take:
                try:
                    msg = render(config, row.kind, deadlines[row.deadline_id],
                                 members[row.member_id], row.message_id, now,
                                 was_due=row.was_due_at)
                except ROW_ERRORS as exc:
                    unrendered.append((row, f"cannot be rendered: {exc}"))
                    continue
                report.would_send.append((row, str(msg["To"]), str(msg["Subject"])))
            report.would_skip = skip + unrendered
        finally:
            s.rollback()
    return report


class FeedPublisher:
    """Publish the feeds when events or deadlines changed since the last look (or hourly).

    `publish` writes only files whose bytes changed, but rendering every feed every 15 s would
    waste the round; a cheap fingerprint (counts and latest modification) decides instead. The
    hourly run lets cancelled items age out of the feeds.

    On PostgreSQL only one process publishes at a time (`try_publish`): a scheduler that finds
    another one publishing does not wait for it but goes on to send, and tries again next
    round (the fingerprint is not recorded, so a publisher killed mid-render loses nothing;
    the price is one re-render per scheduler per change, which writes no file).
    """

    def __init__(self, every: timedelta = timedelta(hours=1)) -> None:
        self.last: tuple[object, ...] | None = None
        self.at: datetime | None = None
        self.every = every
        self.skipped = 0  # rounds that found another process publishing

    def _fingerprint(self, config: Config) -> tuple[object, ...]:
        with session_scope(config.database_url) as s:
            return tuple(
                s.execute(select(func.count(), func.max(m.modified_at))).one()
                for m in (Event, Deadline)
            )

    def __call__(self, config: Config, now: datetime) -> list[str]:
        mark = self._fingerprint(config)
        if mark == self.last and self.at is not None and now - self.at < self.every:
            return []
        result = try_publish(config, now)
        if result is None:
            self.skipped += 1
            log.info("another process is publishing the feeds; skipped publishing this round")
            return []
        self.last, self.at = mark, now
        written = [f.name for f in result.written]
        if written:
            log.info("published %s", ", ".join(written))
        return written


def _publish(config: Config, now: datetime, out_dir: Path | None, wait: bool) -> PublishResult | None:
    # The files are written before the transaction ends, still under the lock: a slower
    # publisher holding an older snapshot can then never overwrite a newer one's files.
    with session_scope(config.database_url) as session:
        if not transaction_lock(session, PUBLISH_LOCK, wait=wait):
            return None
        rendered = render_public(session, FeedSettings.from_config(config), now)
        return write_public(rendered, out_dir if out_dir is not None else config.calendars_dir)


def publish(config: Config, now: datetime, out_dir: Path | None = None) -> PublishResult:
    """Render the public feeds in one transaction, then write the files whose bytes changed.

    On PostgreSQL this waits for a publish in progress elsewhere (`tracker publish`).
    """
    result = _publish(config, now, out_dir, wait=True)
    assert result is not None  # waiting always gets the lock
    return result


def try_publish(config: Config, now: datetime, out_dir: Path | None = None) -> PublishResult | None:
    """`publish`, or None at once when another process holds the publish lock (PostgreSQL)."""
    return _publish(config, now, out_dir, wait=False)
