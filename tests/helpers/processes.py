"""scheduler.py as a real subprocess: config, data due now, start, wait, stop, count."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.helpers.remind_data import add_deadline_at, add_members
from tracker.db.engine import migrate, session_scope
from tracker.reminders.tables import OutboxRow
from tracker.timeparse import iso_utc, utc_now

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[tracker]\ndatabase = "sqlite:///tracker.db"\nbase_url = "https://t.example.org/"\n'
        f'[mail]\nbackend = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
        "batch_size = 50\nlease_seconds = 2\nretry_seconds = 1\n",
        encoding="utf-8",
    )
    return path


def populate(tmp_path: Path, count: int) -> str:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    migrate(url)
    now = utc_now()
    add_members(url, now, count, remind="4h")
    add_deadline_at(url, now, "soon", iso_utc(now + timedelta(hours=3)))
    return url


def start(config: Path) -> subprocess.Popen[bytes]:
    with open(config.parent / "scheduler.log", "ab") as log:  # the child keeps its own copy
        return subprocess.Popen([sys.executable, str(ROOT / "scheduler.py"), "--config",
                                 str(config)], cwd=str(ROOT), stdout=log, stderr=log)


def wait_for(cond: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def stop(proc: subprocess.Popen[bytes], config: Path) -> float:
    """SIGTERM; return the seconds it took to exit (fails if it did not exit cleanly)."""
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # scheduler.py writes every thread's stack to its log
        time.sleep(1)
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError("no exit within 15 s of SIGTERM:\n"
                             + (config.parent / "scheduler.log").read_text()) from None
    took = time.monotonic() - began
    assert rc == 0, (config.parent / "scheduler.log").read_text()
    return took


def expected_ids(url: str) -> set[str]:
    with session_scope(url) as s:
        return set(s.scalars(select(OutboxRow.message_id)))


def sent_count(url: str) -> int:
    with session_scope(url) as s:
        return int(s.scalar(select(func.count()).where(OutboxRow.state == "sent")) or 0)
