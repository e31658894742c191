"""On PostgreSQL one process publishes at a time; the others skip (scheduler) or wait (CLI)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.helpers.feed_data import NOW
from tests.helpers.feeds import fill, make_config
from tracker.db.engine import PUBLISH_LOCK, get_engine
from tracker.feeds.publish import PublishResult
from tracker.scheduler.round import FeedPublisher, publish, try_publish

pytestmark = pytest.mark.postgres


def _hold_lock(pg_url: str):  # type: ignore[no-untyped-def]
    """Another publisher: a transaction on its own connection holding the publish lock."""
    conn = get_engine(pg_url).connect()
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})
    return conn


def test_scheduler_skips_publishing_while_another_process_publishes(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    fill(pg_url)
    config = make_config(tmp_path, pg_url)
    publisher = FeedPublisher()
    holder = _hold_lock(pg_url)
    try:
        with caplog.at_level(logging.INFO, logger="tracker.scheduler.round"):
            assert publisher(config, NOW) == []
        assert try_publish(config, NOW) is None
    finally:
        holder.rollback()  # the other publisher's transaction ends: its lock goes with it
        holder.close()
    assert publisher.skipped == 1
    assert "another process is publishing the feeds; skipped" in caplog.text
    assert not (config.calendars_dir / "all.ics").exists()  # nothing written while skipped
    # The skip recorded no fingerprint, so the next round publishes what the first missed.
    written = publisher(config, NOW)
    assert "all.ics" in written and (config.calendars_dir / "all.ics").exists()
    assert publisher.skipped == 1


def test_publish_command_waits_for_the_publisher_in_progress(tmp_path: Path, pg_url: str) -> None:
    fill(pg_url)
    config = make_config(tmp_path, pg_url)
    holder = _hold_lock(pg_url)
    results: list[PublishResult] = []
    worker = threading.Thread(target=lambda: results.append(publish(config, NOW)))
    try:
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive() and not results  # blocked on the lock, not failed or skipped
    finally:
        holder.rollback()
        holder.close()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert [f.name for f in results[0].written if f.name == "all.ics"] == ["all.ics"]


@pytest.mark.sqlite_only
def test_publishing_on_sqlite_needs_no_lock(tmp_path: Path, sqlite_url: str) -> None:
    fill(sqlite_url)
    config = make_config(tmp_path, sqlite_url)
    result = try_publish(config, NOW)
    assert result is not None and "all.ics" in [f.name for f in result.written]
