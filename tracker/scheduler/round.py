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
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
    """The batch's helper thread: commits the last `sent` mark while the sender waits for the
    mail server.

    A message costs a mail exchange (4 round trips) and a database round trip for its mark; one
    after the other, both were waited for in turn. Here a message's mark is committed during
    the next one's MAIL and RCPT: `settle` (the backend's gate, run before DATA) waits for it,
    so the server never accepts a message while the previous one is still unmarked, and a
    crash repeats at most the one message in flight, as before. One thread, so marks commit
    in order on their one connection. Without this thread the send path was 20 % slower.
    """

    def __init__(self, worker: ThreadPoolExecutor) -> None:
        self.worker = worker
        self.pending: Future[None] | None = None

    def mark(self, marks: outbox.SentMarks, row: Claimed, owner: str, now: datetime) -> None:
        self.settle()  # already done by the gate; never let an earlier mark's error go unseen
        self.pending = self.worker.submit(_mark_sent, marks, row, owner, now)

    def settle(self) -> None:
        """Wait for the last `sent` mark; raises its error (the batch must stop there)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()


RENDER_RUN = 50


def _in_runs(compose: Callable[[Claimed], Outgoing | str],
             rows: list[Claimed]) -> Iterator[Outgoing | str]:
    """The rows' messages, rendered RENDER_RUN at a time just before they are sent.

    Rendering is pure CPU under the GIL. Done on the helper thread during each exchange, it
    cost three times what it costs in a run (0.28-0.33 ms a message against 0.13-0.16 ms:
    thread switches and cold caches) and held the GIL when the server's answer came, so the
    sender waited for it. In runs on the sender, the send path on PostgreSQL went from 0.57 to
    0.65 of bare smtplib with the server as a thread, and from 0.645 to 0.685 with it in a
    child process (medians of alternating bench/mail_bench.py runs, old and new code, one
    session). A run, not the batch: `[mail] batch_size` may be 10,000, and a message should
    show the clock of its sending, give or take a run.
    """
    for start in range(0, len(rows), RENDER_RUN):
        yield from [compose(row) for row in rows[start:start + RENDER_RUN]]


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
            outbox.marks_connection(get_engine(config.database_url)) as conn, \
            ThreadPoolExecutor(1, thread_name_prefix="deliver") as worker:
        marks, behind = outbox.SentMarks(conn), _MarkBehind(worker)

        def record(fn: Callable[Concatenate[Session, P], object], *args: P.args,
                   **kwargs: P.kwargs) -> None:
            """Any other state change, once the pending `sent` mark has committed."""
            behind.settle()
            _mark(config, fn, *args, **kwargs)

        for i, (row, msg) in enumerate(zip(rows, _in_runs(compose, rows), strict=True)):
            if stop is not None and stop.is_set():
                record(outbox.release, [r.id for r in rows[i:]], owner, clock())
                report.released += len(rows) - i
                break
            if time.monotonic() - renewed > lease.total_seconds() / 3:
                record(outbox.renew, [r.id for r in rows[i:]], owner, clock(), lease)
                renewed = time.monotonic()
            if isinstance(msg, str):
                log.warning("%s %s", row.message_id, msg)
                record(outbox.mark_failed, row, owner, clock(), msg)
                report.failed += 1
                continue
            try:
                backend.send(msg, gate=behind.settle)
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
            # no system can close. The next message waits for the commit before DATA.
            behind.mark(marks, row, owner, clock())
            report.sent += 1
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
