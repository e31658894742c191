"""Three scheduler processes on one PostgreSQL, one killed with SIGKILL mid-batch.

Each process sends to its own aiosmtpd sink, so what every process delivered is known even
for the one that died before it could log anything; "arrived" means: in any of the sinks.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.helpers.processes import expected_ids, sent_count, start, stop, wait_for
from tests.helpers.remind_data import ZONES, add_deadline_at
from tests.helpers.smtp_server import SmtpServer, message_id
from tracker.db.engine import session_scope
from tracker.records.members import import_members
from tracker.reminders.tables import OutboxRow
from tracker.timeparse import iso_utc, utc_now

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

COUNT = 3000

def _members(url: str, count: int) -> None:
    """3,000 members with a 4h reminder, through the bulk import (one transaction)."""
    lines = ["email,name,tz,remind"] + [
        f"m{i:05d}@example.net,Member {i},{ZONES[i % len(ZONES)]},4h" for i in range(count)]
    with session_scope(url) as s:
        report = import_members(s, "\n".join(lines), default_tz="Europe/Vienna", now=utc_now())
    assert report.added == count


def _config(folder: Path, url: str, port: int) -> Path:
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(
        f'[tracker]\ndatabase = "{url}"\nbase_url = "https://t.example.org/"\n'
        f'[mail]\nbackend = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
        "batch_size = 20\nlease_seconds = 5\nretry_seconds = 1\n", encoding="utf-8")
    return path


def _message_ids(server: SmtpServer) -> list[str]:
    with server.handler.lock:
        return [message_id(r[2]) for r in server.handler.received]


def _claimed_by(url: str, owner: str) -> set[str]:
    with session_scope(url) as s:
        return set(s.scalars(select(OutboxRow.message_id).where(
            OutboxRow.state == "claimed", OutboxRow.lease_owner == owner)))


def test_three_schedulers_one_killed_mid_batch_deliver_each_reminder_once(
    tmp_path: Path, pg_url: str
) -> None:
    began = time.monotonic()
    now = utc_now()
    _members(pg_url, COUNT)
    add_deadline_at(pg_url, now, "soon", iso_utc(now + timedelta(hours=3)))  # "4h": due now
    servers = [SmtpServer().start() for _ in range(3)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for server in servers:
            # 20 ms per message: two processes alone need >= 30 s for the 3,000, so the one
            # whose first round found the outbox still empty (it waits 15 s for its next
            # round) joins even on a fast, quiet machine; batches of the three overlap.
            server.handler.delay = 0.02
        configs = [_config(tmp_path / name, pg_url, server.port)
                   for name, server in zip("abc", servers, strict=True)]
        procs = [start(config) for config in configs]
        owners = [f"{socket.gethostname()}:{p.pid}" for p in procs]  # as tracker.scheduler.loop
        victims: list[int] = []

        def sending_mid_batch() -> bool:
            """The first process with 30 messages delivered that holds a claimed batch now."""
            victims[:] = [i for i, server in enumerate(servers)
                          if server.count >= 30 and _claimed_by(pg_url, owners[i])][:1]
            return bool(victims)

        assert wait_for(sending_mid_batch, 60), [s.count for s in servers]
        v = victims[0]
        victim, owner = procs[v], owners[v]
        killed_at = time.monotonic() - began
        victim.kill()  # SIGKILL: no clean-up, no release of its claim
        victim.wait(timeout=10)
        in_flight = _claimed_by(pg_url, owner)  # its batch, left claimed until the lease ends
        delivered_at_kill = sum(s.count for s in servers)
        assert in_flight, "the victim held no claim at the kill; the test proves nothing"
        assert delivered_at_kill < COUNT, "everything was sent before the kill"
        assert wait_for(lambda: sent_count(pg_url) == COUNT, 60), f"{sent_count(pg_url)} sent"
        all_sent_at = time.monotonic() - began
        for i, (proc, config) in enumerate(zip(procs, configs, strict=True)):
            if i != v:
                stop(proc, config)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for server in servers:
            server.stop()
    per_process = [Counter(_message_ids(s)) for s in servers]
    ids = sum(per_process, Counter())
    assert set(ids) == expected_ids(pg_url) and len(ids) == COUNT  # every reminder arrived
    repeats = {mid: n for mid, n in ids.items() if n > 1}
    # Only what the victim had in flight (accepted by its sink, not yet marked sent) may
    # arrive twice, with the same Message-ID (the Counter's key): at most one message.
    assert len(repeats) <= 1 and all(n == 2 for n in repeats.values()), repeats
    assert set(repeats) <= in_flight
    assert all(n == 1 for counts in per_process for n in counts.values())  # no sink saw a repeat
    assert all(sum(c.values()) > 0 for c in per_process), [sum(c.values()) for c in per_process]
    print(f"3 schedulers, {COUNT} reminders, killed #{v}, per sink {[s.count for s in servers]}, "
          f"{len(in_flight)} claimed by the killed one, {len(repeats)} repeated, "
          f"killed at {killed_at:.1f} s, all sent at {all_sent_at:.1f} s, "
          f"checked at {time.monotonic() - began:.1f} s")
