"""What the send path at scale relies on (issue 13): deadlines far ahead are not planned member
by member until their first reminder nears, yet every row still exists before its moment;
`sent` marks through `SentMarks` write what `mark_sent` writes; on PostgreSQL the marks
connection commits asynchronously and gives its connection back as it found it; an ASCII
message goes out without quoted-printable; a claim reads one batch, not the whole backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from tests.helpers.remind_data import add_deadline_at, add_members, make_config
from tracker.config import Config
from tracker.db.engine import get_engine, session_scope
from tracker.records.members import MemberInput, add_member
from tracker.records.models import Deadline, Member
from tracker.reminders import outbox
from tracker.reminders.mail import Composer
from tracker.reminders.planner import DeadlineView, MemberView, ReminderSettings, plan
from tracker.reminders.tables import OutboxRow

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
STEP = timedelta(hours=12)  # a scheduler round every 12 hours is enough for the horizon


def sync(config: Config, at: datetime) -> outbox.SyncReport:
    with session_scope(config.database_url) as s:
        return outbox.sync(s, config, at)


@pytest.fixture
def far(tmp_path: Path, db_url: str) -> Config:
    """Five members in five zones, one deadline in 3 days, two 45 and 90 days ahead (one with
    its own offsets, one member with theirs)."""
    config = make_config(tmp_path, db_url)
    add_members(db_url, NOW, 4)
    with session_scope(db_url) as s:
        add_member(s, "kiritimati@example.net",
                   MemberInput(name="Far East", tz="Pacific/Kiritimati", remind="30d,2h"),
                   default_tz="Europe/Vienna", now=NOW)
    add_deadline_at(db_url, NOW, "near", "4 Sep 2024 noon")
    add_deadline_at(db_url, NOW, "autumn", "16 Oct 2024 noon", remind="21d,1d")
    add_deadline_at(db_url, NOW, "winter", "30 Nov 2024 noon")
    return config


def test_far_deadlines_wait_for_their_horizon_and_every_row_comes_in_time(far: Config) -> None:
    first = sync(far, NOW)
    assert first.deadlines == 3 and first.ahead == 2  # marked, not planned member by member
    with session_scope(far.database_url) as s:
        assert set(s.scalars(select(OutboxRow.deadline_id).distinct())) == {"near"}
    at = NOW
    while at < datetime(2024, 12, 1, tzinfo=UTC):
        at += STEP
        sync(far, at)
    with session_scope(far.database_url) as s:
        got = {(r.member_id, r.deadline_id, r.slot): (r.due_at, r.created_at)
               for r in s.scalars(select(OutboxRow).where(OutboxRow.kind == "reminder"))}
        members = [MemberView(m.id, m.tz, tuple(m.series), tuple(m.kinds), m.remind)
                   for m in s.scalars(select(Member))]
        views = [DeadlineView(d.id, d.kind, tuple(d.all_series), d.due_utc, d.remind, d.status)
                 for d in s.scalars(select(Deadline))]
    settings = ReminderSettings.from_config(far.reminders)
    # What the planner says with every member and no horizon, worked out by `plan` alone:
    # the moments still ahead of the first sync (earlier ones are late from the start).
    want = {(mid, v.id, slot): moment for v in views
            for (mid, slot), moment in plan(v, members, settings, NOW).items() if moment > NOW}
    assert {k: due for k, (due, _) in got.items() if due > NOW} == want
    assert "30d" in {slot for _, _, slot in want}  # the member's own longest offset is there
    late = [(k, due, made) for k, (due, made) in got.items() if due > NOW and made > due]
    assert late == [], "a row was made after its moment had come"


def test_sent_marks_write_what_mark_sent_writes(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    add_members(db_url, NOW, 3)
    add_deadline_at(db_url, NOW, "d", "14 Oct 2024 noon", remind="2h")
    at = datetime(2024, 10, 14, 8, 30, tzinfo=UTC)
    sync(config, at)
    with session_scope(db_url) as s:
        a, b, c = outbox.claim_due(s, at, "me", 10, LEASE)
    sent_at = at + timedelta(seconds=7, microseconds=123456)
    with session_scope(db_url) as s:
        assert outbox.mark_sent(s, a.id, "me", sent_at)
    with outbox.marks_connection(get_engine(db_url)) as conn:
        marks = outbox.SentMarks(conn)
        assert marks.mark(b.id, "me", sent_at)
        assert not marks.mark(c.id, "someone else", sent_at)  # not its lease: untouched
    fields = ("state", "sent_at", "updated_at", "attempts", "lease_owner", "lease_until",
              "last_error")
    with session_scope(db_url) as s:
        row = {r.id: tuple(getattr(r, f) for f in fields) for r in s.scalars(select(OutboxRow))}
    assert row[b.id] == row[a.id] == ("sent", sent_at, sent_at, 1, None, None, None)
    assert row[c.id][0] == "claimed" and row[c.id][4] == "me"


def test_marks_connection_on_postgresql_is_asynchronous_and_hands_back_a_plain_one(
        pg_url: str) -> None:
    engine = get_engine(pg_url)
    with outbox.marks_connection(engine) as conn:
        used = conn.connection.dbapi_connection
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
        conn.exec_driver_sql("CREATE TABLE marks_probe (n integer)")
        conn.exec_driver_sql("INSERT INTO marks_probe VALUES (1)")
        with engine.connect() as other:  # committed by itself (autocommit): seen elsewhere
            assert other.exec_driver_sql("SELECT count(*) FROM marks_probe").scalar() == 1
    # Back in the pool, the very connection commits synchronously again.
    assert used.execute("SHOW synchronous_commit").fetchone() == ("on",)
    used.rollback()
    with engine.connect() as again:
        again.exec_driver_sql("DROP TABLE marks_probe")
        again.commit()


def test_an_ascii_message_has_no_quoted_printable_part(tmp_path: Path, sqlite_url: str) -> None:
    deadline = Deadline(id="d1", uid="d1@x", title="Register for COP12", kind="registration",
                        series=[], tz="Europe/Vienna",
                        due_utc=datetime(2024, 10, 14, 10, tzinfo=UTC), status="open",
                        sequence=0, created_at=NOW, modified_at=NOW, visibility="public",
                        instructions="", url="https://indico.un.org/event/1/", email="",
                        location="")
    member = Member(id=7, email="amina@example.net", name="Amina Bello", tz="Africa/Lagos",
                    unsubscribe_token="T" * 32)
    out = Composer(make_config(tmp_path, sqlite_url)).compose(
        "reminder", deadline, member, "<reminder.7.d1.1d.0@example.org>", NOW)
    assert b"quoted-printable" not in out.data  # the footer's dot is an HTML entity now
    assert out.data.count(b"Content-Transfer-Encoding: 7bit") == 2


def test_a_claim_reads_one_batch_in_index_order_however_long_the_backlog(
        tmp_path: Path, db_url: str) -> None:
    """Each SELECT of a claim that picks due rows (the ones with a LIMIT) reads them in the
    order of ix_reminders_due and stops after the batch: no sort of every due row. Before, one
    query with an OR sorted the whole backlog for every claim (on PostgreSQL on disk, since
    FOR UPDATE rules out a top-N sort): 130-220 ms a claim of 100 with 100,000 rows due."""
    config = make_config(tmp_path, db_url)
    add_members(db_url, NOW, 300)
    for i in range(5):
        add_deadline_at(db_url, NOW, f"d{i}", "14 Oct 2024 noon", remind="2h")
    at = datetime(2024, 10, 14, 8, 30, tzinfo=UTC)
    assert sync(config, at).inserted == 1500
    engine = get_engine(db_url)
    pg = engine.dialect.name == "postgresql"
    if pg:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE reminders")
    sent: list[tuple[str, Any]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: Any,
                context: object, executemany: bool) -> None:
        if statement.lstrip().startswith("SELECT") and "LIMIT" in statement:
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_scope(db_url) as s:
            assert len(outbox.claim_due(s, at, "me", 100, LEASE)) == 100
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert sent, "the claim ran no SELECT with a LIMIT"
    for statement, parameters in sent:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + statement, parameters)
            plan = "\n".join(str(r[0] if pg else r[3]) for r in cur.fetchall())
            raw.rollback()
        finally:
            raw.close()
        assert "ix_reminders_due" in plan, plan
        assert ("Sort" not in plan) if pg else ("TEMP B-TREE" not in plan), plan
