"""The long-running process: every ~15 s (and at the next due moment) run one round.

A round = sync the outbox with the data, publish the feeds if they changed, claim due rows,
send them, mark them (tracker.delivery.run_round). APScheduler only wakes the loop; the schedule
lives in the database, so a restart or `kill -9` loses nothing. SIGINT/SIGTERM set a stop flag:
the round in progress finishes the message it is sending, gives back the rest of its claim, and
the process exits within a few seconds.

    python scheduler.py [--config PATH] [--once]      (from a checkout)
    tracker-scheduler [--config PATH] [--once]        (installed)
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import socket
import sys
import threading
from datetime import UTC, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from tracker.config import Config, load_config
from tracker.db.engine import migrate, require_schema, session_scope
from tracker.errors import TrackerError
from tracker.reminders.outbox import next_wakeup
from tracker.scheduler.round import FeedPublisher, run_round
from tracker.timeparse import utc_now

log = logging.getLogger("tracker.scheduler")
INTERVAL = 15.0  # seconds between rounds when nothing is due sooner


class Loop:
    """One round at a time; rounds run in APScheduler's worker thread."""

    def __init__(self, config: Config, owner: str, once: bool) -> None:
        self.config = config
        self.owner = owner
        self.stop = threading.Event()
        self.busy = threading.Lock()
        self.publish = FeedPublisher()
        self.scheduler: BackgroundScheduler | None = None
        self.once = once
        self.failed = False
        mail = config.mail
        self.batch, self.lease = mail.batch_size, timedelta(seconds=mail.lease_seconds)

    def round(self) -> None:
        if not self.busy.acquire(blocking=False):
            return  # the previous round is still sending
        try:
            report = run_round(self.config, utc_now, self.owner, batch=self.batch,
                               lease=self.lease, stop=self.stop, publish=self.publish)
            if report.publish_error:
                self.failed = True  # logged by the round; --once exits 1, the loop goes on
            if report.sent or report.retried or report.failed:
                log.info("round: sent %d, retry %d, failed %d", report.sent, report.retried,
                         report.failed)
            # The other scheduler is planning rows right now: look again in a second rather
            # than at the next 15 s tick, or it alone sends everything that just became due.
            self._wake_at_next_due(soon=report.sync.deferred)
        except TrackerError as exc:
            self.failed = True
            log.error("round failed: %s", exc)
        except Exception:  # keep the scheduler alive; the next round tries again
            self.failed = True
            log.exception("round failed")
        finally:
            self.busy.release()

    def start(self) -> None:
        """Run rounds in APScheduler's thread from now on: one now, then every INTERVAL."""
        sched = BackgroundScheduler(timezone=UTC)
        self.scheduler = sched
        sched.add_job(self.round, "interval", seconds=INTERVAL, id="round", coalesce=True,
                      max_instances=1, next_run_time=utc_now())
        sched.start()

    def shutdown(self) -> None:
        """Stop: the round in progress sees the stop flag, gives back its claim and returns.

        The round is waited for here, before APScheduler is shut down: its `shutdown(wait=True)`
        holds the job-store lock while it waits for running jobs, and a round that had passed
        its stop check would wait for that lock to book its next wake-up, for ever. Rounds
        that start meanwhile find `busy` held and return at once.
        """
        self.stop.set()
        with self.busy:
            if self.scheduler is not None:
                self.scheduler.shutdown(wait=True)

    def _wake_at_next_due(self, soon: bool = False) -> None:
        if self.scheduler is None or self.stop.is_set():
            return
        with session_scope(self.config.database_url) as s:
            due = next_wakeup(s)
        now = utc_now()
        if soon:
            due = min(due, now + timedelta(seconds=1)) if due else now + timedelta(seconds=1)
        if due is not None and due < now + timedelta(seconds=INTERVAL):
            self.scheduler.add_job(self.round, "date", run_date=max(due, now), id="wake",
                                   replace_existing=True, misfire_grace_time=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="config.toml (default as for tracker)")
    parser.add_argument("--once", action="store_true", help="run one round and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        # Upgrade a database `tracker init` made; never create one in whatever folder the
        # process was started in (that would also create calendars/ and outbox/ there).
        require_schema(config.database_url)
        migrate(config.database_url)
    except TrackerError as exc:
        shown = exc.at("", "--config") if exc.field == "config" else exc
        print(f"error: {shown}", file=sys.stderr)
        return exc.exit_code
    owner = owner_name()
    loop = Loop(config, owner, args.once)
    if args.once:
        loop.round()
        return 1 if loop.failed else 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: loop.stop.set())
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID`: where every thread is, into the log
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    loop.start()
    log.info("scheduler %s running; Ctrl-C stops it", owner)
    while not loop.stop.wait(0.5):
        pass
    log.info("stopping")
    loop.shutdown()
    return 0


def owner_name() -> str:
    """Who claims outbox rows: host and process, as `tracker remind status` shows them."""
    return f"{socket.gethostname()}:{os.getpid()}"
