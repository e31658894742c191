"""Stopping the scheduler while a round is about to book its next wake-up.

APScheduler's `shutdown(wait=True)` holds its job-store lock while it waits for running jobs;
a round that books its next wake-up (`add_job`) needs that lock. A SIGTERM that came after the
round had looked at the stop flag, but before it booked, left both waiting for each other: a
CI run saw a scheduler not exit within 15 s. Here the round is held, for certain, between the
two: it waits for a lock on the table `next_wakeup` reads last.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.helpers.remind_data import make_config
from tracker.db.engine import SYNC_LOCK
from tracker.scheduler.loop import Loop

pytestmark = pytest.mark.postgres


def _waiting_queries(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text(
                "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")))
    finally:
        engine.dispose()


def test_stop_while_a_round_books_its_next_wakeup_does_not_hang(tmp_path: Path,
                                                                 pg_url: str) -> None:
    config = make_config(tmp_path, pg_url)
    holder = create_engine(pg_url)
    loop = Loop(config, "test:1", once=False)
    stopper = threading.Thread(target=loop.shutdown, daemon=True)
    try:
        with holder.connect() as conn:
            # The planning lock makes the round skip its sync (which reads reminder_plans)
            # and book a wake-up a second ahead; the table lock holds it inside next_wakeup.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SYNC_LOCK})
            conn.execute(text("LOCK TABLE reminder_plans IN ACCESS EXCLUSIVE MODE"))
            loop.start()
            deadline = time.monotonic() + 30
            while not any("reminder_plans" in q for q in _waiting_queries(pg_url)):
                assert time.monotonic() < deadline, "the round never reached next_wakeup"
                time.sleep(0.05)
            stopper.start()  # what SIGTERM leads to, while the round is past its stop check
            time.sleep(0.5)  # shutdown is now waiting for the round
            conn.rollback()  # the round goes on: next_wakeup answers, the wake-up is booked
        stopper.join(10)
        assert not stopper.is_alive(), "shutdown and the round wait for each other"
    finally:
        holder.dispose()
        if not stopper.is_alive() and not stopper.ident:
            loop.shutdown()
