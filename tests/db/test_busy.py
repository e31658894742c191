"""A short lock wait for the web server's sessions, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import text, update

from tests.helpers.remind_data import add_members
from tracker.db.engine import get_engine, session_scope
from tracker.errors import OperationalError
from tracker.records.models import Member

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)


def test_a_held_lock_ends_a_short_wait_with_an_operational_error(db_url: str) -> None:
    add_members(db_url, NOW, 1)
    if db_url.startswith("sqlite"):
        holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        release = lambda: holder.execute("ROLLBACK")  # noqa: E731
    else:
        conn = get_engine(db_url).connect()
        conn.execute(text("SELECT id FROM members FOR UPDATE"))
        release = conn.rollback
    try:
        with pytest.raises(OperationalError), session_scope(db_url, busy_seconds=0.3) as s:
            s.execute(update(Member).values(name="changed"))
    finally:
        release()
        if not db_url.startswith("sqlite"):
            conn.close()
    with session_scope(db_url) as s:  # nothing was written; the default wait still works
        s.execute(update(Member).values(name="later"))
