"""Writing outbox rows: Message-IDs derived from the row key, inserts that let the unique key
decide between schedulers, and the SQLite write lock a claim or a sync takes first."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from email.utils import parseaddr
from hashlib import sha1
from typing import cast

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tracker.reminders.tables import OUTBOX


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def make_message_id(kind: str, member_id: int, deadline_id: str, slot: str, seq: int,
                    domain: str) -> str:
    """`<reminder.12.cop12-reg.1d.3@example.org>`: derived from the row key, so stable."""
    safe = re.sub(r"[^A-Za-z0-9-]", "_", deadline_id)
    if safe != deadline_id:  # keep ids that differ only in unsafe characters apart
        safe += "_" + sha1(deadline_id.encode()).hexdigest()[:8]
    prefix = "reminder" if kind == "reminder" else "notice"
    return f"<{prefix}.{member_id}.{safe}.{slot}.{seq}@{domain}>"


def begin_write(session: Session) -> None:
    """Take the write lock now on SQLite (BEGIN IMMEDIATE), so a claim never races a writer."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        # The driver is the standard library's sqlite3 (pysqlite); SQLAlchemy types the raw
        # connection as a generic DB-API one, which has no `in_transaction`.
        raw = cast(sqlite3.Connection, conn.connection.dbapi_connection)
        if not raw.in_transaction:
            session.execute(text("BEGIN IMMEDIATE"))


def insert_rows(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert, ignoring rows another scheduler inserted first (the unique key decides)."""
    if not rows:
        return
    conn = session.connection()  # Core: the ORM's bulk path costs more than the INSERT itself
    ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(OUTBOX)
    for start in range(0, len(rows), 5000):
        conn.execute(ins.on_conflict_do_nothing(), rows[start:start + 5000])
