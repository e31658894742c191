"""scheduler.py as a real subprocess against a real SMTP server: kill -9, outage, SIGTERM.

These tests read the real clock (the scheduler does), so their deadlines are created relative
to the current time: a deadline 3 hours ahead with a "4h" reminder is due now (sent late).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.helpers.processes import (
    ROOT,
    expected_ids,
    populate,
    sent_count,
    start,
    stop,
    wait_for,
    write_config,
)
from tests.helpers.smtp_server import SmtpServer, free_port
from tracker.db.engine import session_scope
from tracker.reminders.tables import OutboxRow

pytestmark = pytest.mark.slow


def test_kill_9_mid_batch_then_restart_delivers_each_exactly_once(tmp_path: Path) -> None:
    server = SmtpServer().start()
    server.handler.delay = 0.005  # a few ms per message: the kill lands mid-batch
    try:
        config = write_config(tmp_path, server.port)
        url = populate(tmp_path, 400)
        proc = start(config)
        assert wait_for(lambda: server.count >= 120, 60), "scheduler sent nothing"
        proc.kill()  # SIGKILL: no clean-up at all
        proc.wait(timeout=10)
        at_kill = server.count
        assert at_kill < 400, "the batch finished before the kill; the test proves nothing"
        proc = start(config)
        assert wait_for(lambda: sent_count(url) == 400, 90), f"only {sent_count(url)} sent"
        took = stop(proc, config)
    finally:
        server.stop()
    ids = Counter(str(m["Message-ID"]) for m in server.messages)
    assert set(ids) == expected_ids(url) and len(ids) == 400  # every reminder arrived
    repeats = {mid: n for mid, n in ids.items() if n > 1}
    # The one message in flight at the kill (accepted by the server, not yet marked sent) may
    # arrive twice, and only with the same Message-ID, which is what the Counter keys on.
    assert len(repeats) <= 1 and all(n == 2 for n in repeats.values()), repeats
    assert took < 5


def test_smtp_outage_then_recovery_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    url = populate(tmp_path, 60)
    proc = start(config)  # the server is down
    try:
        def retried() -> bool:
            with session_scope(url) as s:
                return bool(s.scalar(select(func.count()).where(
                    OutboxRow.state == "pending", OutboxRow.attempts >= 1,
                    OutboxRow.last_error.like("cannot connect%"))))
        assert wait_for(retried, 30), "no failed attempt was recorded"
        assert sent_count(url) == 0
        server = SmtpServer(port).start()
        try:
            assert wait_for(lambda: sent_count(url) == 60, 90), f"only {sent_count(url)} sent"
            took = stop(proc, config)
        finally:
            server.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
    ids = Counter(str(m["Message-ID"]) for m in server.messages)
    assert set(ids) == expected_ids(url) and set(ids.values()) == {1}
    assert took < 5


def test_sigterm_mid_batch_stops_within_seconds_and_releases_the_claim(tmp_path: Path) -> None:
    server = SmtpServer().start()
    server.handler.delay = 0.1  # slow server: a batch of 50 takes 5 s
    try:
        config = write_config(tmp_path, server.port)
        url = populate(tmp_path, 80)
        proc = start(config)
        assert wait_for(lambda: server.count >= 5, 30)
        took = stop(proc, config)
        assert took < 5
        with session_scope(url) as s:
            assert not s.scalar(select(func.count()).where(OutboxRow.state == "claimed"))
        server.handler.delay = 0
        once = subprocess.run([sys.executable, str(ROOT / "scheduler.py"), "--config",
                               str(config), "--once"], cwd=str(ROOT), capture_output=True,
                              timeout=60)
        assert once.returncode == 0, once.stderr.decode()
    finally:
        server.stop()
    ids = Counter(str(m["Message-ID"]) for m in server.messages)
    assert len(ids) == 80 and set(ids.values()) == {1} and sent_count(url) == 80
    assert os.path.exists(tmp_path / "tracker.db")
