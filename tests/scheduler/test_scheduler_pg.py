"""Two scheduler processes sharing one PostgreSQL database never send a reminder twice."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers.processes import expected_ids, sent_count, start, stop, wait_for
from tests.helpers.remind_data import add_deadline_at, add_members
from tests.helpers.smtp_server import SmtpServer
from tracker.timeparse import iso_utc, utc_now

pytestmark = pytest.mark.slow


def test_two_schedulers_on_postgresql_send_each_reminder_once(
    tmp_path: Path, pg_url: str
) -> None:
    now = utc_now()
    add_members(pg_url, now, 300, remind="4h")
    add_deadline_at(pg_url, now, "soon", iso_utc(now + timedelta(hours=3)))
    server = SmtpServer().start()
    # 300 x 50 ms: sending takes ~15 s, longer than a second process needs to start even on a
    # loaded machine, so both processes really compete for rows
    server.handler.delay = 0.05
    procs = []
    try:
        configs = []
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            config = folder / "config.toml"
            config.write_text(
                f'[tracker]\ndatabase = "{pg_url}"\nbase_url = "https://t.example.org/"\n'
                f'[mail]\nbackend = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {server.port}\n'
                "batch_size = 20\nlease_seconds = 30\nretry_seconds = 1\n", encoding="utf-8")
            configs.append(config)
            procs.append(start(config))
        assert wait_for(lambda: sent_count(pg_url) == 300, 120), f"only {sent_count(pg_url)} sent"
        for proc, config in zip(procs, configs, strict=True):
            stop(proc, config)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        server.stop()
    ids = Counter(str(m["Message-ID"]) for m in server.messages)
    assert set(ids) == expected_ids(pg_url) and len(ids) == 300
    assert set(ids.values()) == {1}, {k: v for k, v in ids.items() if v > 1}
    per_process = [
        sum(int(n) for n in re.findall(r"round: sent (\d+)", (c.parent / "scheduler.log").read_text()))
        for c in configs
    ]
    # both processes took part, so the test really had two senders competing for rows
    assert sum(per_process) == 300 and min(per_process) > 0, per_process
