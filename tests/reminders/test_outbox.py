"""The outbox on a real SQLite file and on PostgreSQL: sync, claim, leases, notices."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.helpers.remind_data import add_deadline_at, add_members, make_config
from tracker.config import Config
from tracker.db.engine import session_scope
from tracker.records.deadlines import DeadlineInput, cancel_deadline, edit_deadline
from tracker.records.members import MemberInput, edit_member, remove_member
from tracker.reminders import outbox
from tracker.reminders.tables import OutboxRow

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
T1 = datetime(2024, 9, 29, 12, 0, tzinfo=UTC)  # 14d moments (30 Sep) are inside the horizon
LEASE = timedelta(minutes=5)


@pytest.fixture
def setup(tmp_path: Path, db_url: str) -> Config:
    config = make_config(tmp_path, db_url)
    add_members(db_url, NOW, 6)
    add_deadline_at(db_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    sync(config, NOW)
    return config


def sync(config: Config, at: datetime) -> outbox.SyncReport:
    with session_scope(config.database_url) as s:
        return outbox.sync(s, config, at)


def claim(config: Config, at: datetime, owner: str = "a", limit: int = 1000) -> list[outbox.Claimed]:
    with session_scope(config.database_url) as s:
        return outbox.claim_due(s, at, owner, limit, LEASE)


def rows(config: Config, **where: object) -> list[OutboxRow]:
    with session_scope(config.database_url) as s:
        query = select(OutboxRow).order_by(OutboxRow.member_id, OutboxRow.due_at)
        for key, value in where.items():
            query = query.where(getattr(OutboxRow, key) == value)
        return list(s.scalars(query))


def edit_due(config: Config, due: str, at: datetime) -> None:
    with session_scope(config.database_url) as s:
        edit_deadline(s, "cop12-reg", DeadlineInput(due=due), now=at)


def test_rows_only_inside_the_horizon_and_sync_is_incremental(setup: Config) -> None:
    assert rows(setup) == []  # six weeks ahead: nothing materialised yet
    report = sync(setup, T1)
    assert (report.deadlines, report.inserted) == (1, 6)
    got = rows(setup)
    assert {r.slot for r in got} == {"14d"} and {r.state for r in got} == {"pending"}
    assert {r.due_at for r in got} == {
        datetime(2024, 9, 30, h, tzinfo=UTC) for h in (12, 4, 8, 13, 0, 7)  # 09:00 local
    }
    assert got[0].message_id == f"<reminder.{got[0].member_id}.cop12-reg.14d.0@example.org>"
    again = sync(setup, T1 + timedelta(seconds=15))
    assert (again.deadlines, again.members, bool(again)) == (0, 0, False)


def test_unique_key_refuses_a_second_row(setup: Config) -> None:
    sync(setup, T1)
    first = rows(setup)[0]
    with pytest.raises(IntegrityError), session_scope(setup.database_url) as s:
        s.add(OutboxRow(kind="reminder", member_id=first.member_id, deadline_id="cop12-reg",
                        slot="14d", seq=9, due_at=T1, state="pending", attempts=0,
                        next_attempt_at=T1, message_id="<other@example.org>",
                        created_at=T1, updated_at=T1))
        s.flush()


def test_three_quick_edits_send_one_notice_with_quiet_period(setup: Config) -> None:
    sync(setup, T1)
    for minute, due in ((1, "21 Oct 2024 noon"), (2, "22 Oct 2024 noon"), (3, "23 Oct 2024 noon")):
        at = T1 + timedelta(minutes=minute)
        edit_due(setup, due, at)
        sync(setup, at)
    notices = rows(setup, kind="moved")
    assert len(notices) == 6 and {n.slot for n in notices} == {"n1"}
    assert {n.due_at for n in notices} == {T1 + timedelta(minutes=13)}  # last edit + 10 min
    moved = rows(setup, slot="14d")  # pending 14d reminders moved with the deadline
    assert {r.due_at.date() for r in moved} == {datetime(2024, 10, 9).date()}
    assert claim(setup, T1 + timedelta(minutes=12)) == []
    got = claim(setup, T1 + timedelta(minutes=13))
    assert sorted(c.kind for c in got) == ["moved"] * 6
    with session_scope(setup.database_url) as s:
        for c in got:
            assert outbox.mark_sent(s, c.id, "a", T1 + timedelta(minutes=14))
    edit_due(setup, "24 Oct 2024 noon", T1 + timedelta(minutes=20))  # a later, separate change
    sync(setup, T1 + timedelta(minutes=20))
    assert len(rows(setup, slot="n2")) == 6


def test_cancel_drops_reminders_and_sends_one_cancellation(setup: Config) -> None:
    sync(setup, T1)
    edit_due(setup, "21 Oct 2024 noon", T1 + timedelta(minutes=1))
    sync(setup, T1 + timedelta(minutes=1))
    with session_scope(setup.database_url) as s:
        cancel_deadline(s, "cop12-reg", now=T1 + timedelta(minutes=2))
    sync(setup, T1 + timedelta(minutes=2))
    assert {(r.state, r.last_error) for r in rows(setup, kind="reminder")} == {
        ("skipped", "deadline cancelled")}
    notices = [r for r in rows(setup) if r.kind != "reminder"]
    assert len(notices) == 6 and {n.kind for n in notices} == {"cancelled"}
    got = claim(setup, T1 + timedelta(minutes=12))
    assert sorted(c.kind for c in got) == ["cancelled"] * 6


def test_inactive_member_gets_nothing_more_and_comes_back(setup: Config) -> None:
    sync(setup, T1)
    with session_scope(setup.database_url) as s:
        edit_member(s, "m0000@example.net", MemberInput(active=False), now=T1)
    sync(setup, T1)
    mine = [r for r in rows(setup) if r.state == "skipped"]
    assert len(mine) == 1 and mine[0].last_error == "member inactive"
    assert len(claim(setup, datetime(2024, 9, 30, 23, tzinfo=UTC), limit=100)) == 5
    with session_scope(setup.database_url) as s:
        edit_member(s, "m0000@example.net", MemberInput(active=True), now=T1)
    report = sync(setup, T1 + timedelta(minutes=1))
    assert report.revived == 1  # its moment (30 Sep 09:00 Halifax) is still ahead


def test_quiet_period_counts_from_the_edit_not_the_round(setup: Config) -> None:
    """Modified at 04:12:29, noticed by a round at 04:13:36: due 04:22:29, not 04:23:36."""
    sync(setup, T1)
    edited = T1 + timedelta(minutes=12, seconds=29)
    edit_due(setup, "21 Oct 2024 noon", edited)
    sync(setup, edited + timedelta(minutes=1, seconds=7))  # the round that notices it
    notices = rows(setup, kind="moved")
    assert len(notices) == 6
    assert {n.due_at for n in notices} == {edited + timedelta(minutes=10)}
    # the notice says what it was due before the change
    assert {n.was_due_at for n in notices} == {datetime(2024, 10, 14, 10, 0, tzinfo=UTC)}


def test_a_round_after_the_quiet_period_sends_at_once(setup: Config) -> None:
    sync(setup, T1)
    edit_due(setup, "21 Oct 2024 noon", T1)
    late = T1 + timedelta(minutes=30)  # no scheduler ran for half an hour
    sync(setup, late)
    assert len(claim(setup, late)) == 6


def test_moved_back_inside_the_quiet_period_sends_no_notice(setup: Config) -> None:
    sync(setup, T1)
    edit_due(setup, "21 Oct 2024 noon", T1 + timedelta(minutes=1))
    sync(setup, T1 + timedelta(minutes=1))
    edit_due(setup, "14 Oct 2024 noon", T1 + timedelta(minutes=2))
    sync(setup, T1 + timedelta(minutes=2))
    assert {(n.state, n.last_error) for n in rows(setup, kind="moved")} == {
        ("skipped", "moved back before the notice went out")}
    assert claim(setup, T1 + timedelta(minutes=30)) == []


def test_unsubscribed_member_is_planned_like_an_inactive_one(setup: Config) -> None:
    """mail=False: no reminders, no notices; the member stays active (their feed works)."""
    sync(setup, T1)
    with session_scope(setup.database_url) as s:
        edit_member(s, "m0000@example.net", MemberInput(mail=False), now=T1)
    sync(setup, T1)
    mine = [r for r in rows(setup) if r.state == "skipped"]
    assert len(mine) == 1 and mine[0].last_error == "member inactive"
    edit_due(setup, "21 Oct 2024 noon", T1 + timedelta(minutes=1))
    sync(setup, T1 + timedelta(minutes=1))
    assert len(rows(setup, kind="moved")) == 5  # no notice for them either
    with session_scope(setup.database_url) as s:
        edit_member(s, "m0000@example.net", MemberInput(mail=True), now=T1 + timedelta(minutes=2))
    assert sync(setup, T1 + timedelta(minutes=2)).members == 1


def test_mail_cleared_behind_the_planners_back_is_skipped_at_claim(setup: Config) -> None:
    """A raw UPDATE (no modified_at change) still cannot send to an unsubscribed member."""
    sync(setup, T1)
    from sqlalchemy import update

    from tracker.records.models import Member

    with session_scope(setup.database_url) as s:
        s.execute(update(Member).where(Member.email == "m0000@example.net").values(mail=False))
    assert sync(setup, T1).members == 1  # the marker's "gets mail" differs: planned again
    got = claim(setup, datetime(2024, 9, 30, 23, tzinfo=UTC), limit=100)
    assert len(got) == 5


def test_removed_member_rows_go_with_them(setup: Config) -> None:
    sync(setup, T1)
    with session_scope(setup.database_url) as s:
        remove_member(s, "m0001@example.net")
    sync(setup, T1)
    assert len(rows(setup)) == 5
    assert len(claim(setup, datetime(2024, 9, 30, 23, tzinfo=UTC))) == 5


def test_late_reminders_sent_while_ahead_and_superseded_ones_skipped(setup: Config) -> None:
    late = datetime(2024, 10, 12, 12, 0, tzinfo=UTC)  # nothing ran since 1 Sep
    sync(setup, late)
    got = claim(setup, late)
    assert sorted(c.slot for c in got) == ["3d"] * 6  # the latest one that has come
    skipped = rows(setup, slot="14d")
    assert {r.state for r in skipped} == {"skipped"}
    assert "superseded" in (skipped[0].last_error or "")


def test_reminder_after_the_deadline_is_skipped_with_reason(setup: Config) -> None:
    sync(setup, T1)
    after = datetime(2024, 10, 14, 10, 1, tzinfo=UTC)
    assert claim(setup, after) == []
    reasons = {r.last_error for r in rows(setup)}
    assert len(reasons) == 1 and reasons.pop().startswith("deadline passed (2024-10-14 10:00 UTC)")


def test_a_due_row_whose_deadline_is_gone_is_skipped_not_left_in_the_way(setup: Config) -> None:
    """`tracker deadline delete` removes pending rows; a deletion by raw SQL leaves them. The
    claim finds them first (they are the oldest) and records why they are not sent."""
    sync(setup, T1)
    from sqlalchemy import delete

    from tracker.records.models import Deadline

    with session_scope(setup.database_url) as s:
        s.execute(delete(Deadline).where(Deadline.id == "cop12-reg"))
    got = claim(setup, datetime(2024, 9, 30, 23, tzinfo=UTC), limit=3)
    assert got == []
    gone = rows(setup, deadline_id="cop12-reg")
    assert gone and {(r.state, r.last_error) for r in gone if r.slot == "14d"} == {
        ("skipped", "deadline deleted")}


def test_expired_lease_is_claimable_again(setup: Config) -> None:
    sync(setup, T1)
    at = datetime(2024, 9, 30, 23, tzinfo=UTC)
    first = claim(setup, at, "a")
    assert len(first) == 6
    assert claim(setup, at + LEASE - timedelta(seconds=1), "b") == []
    second = claim(setup, at + LEASE, "b")
    assert sorted(c.id for c in second) == sorted(c.id for c in first)
    with session_scope(setup.database_url) as s:
        assert not outbox.mark_sent(s, first[0].id, "a", at + LEASE)  # a lost its lease
        assert outbox.mark_sent(s, first[0].id, "b", at + LEASE)


def test_retry_backoff_failure_and_status(setup: Config) -> None:
    sync(setup, T1)
    at = datetime(2024, 9, 30, 23, tzinfo=UTC)
    a, b, *_ = claim(setup, at)
    with session_scope(setup.database_url) as s:
        outbox.mark_retry(s, a, "a", at, "451 4.3.0 try again later")
        outbox.mark_failed(s, b, "a", at, "550 5.1.1 no such user")
    assert claim(setup, at + timedelta(seconds=29), "b") == []
    assert [c.id for c in claim(setup, at + timedelta(seconds=30), "b")] == [a.id]
    with session_scope(setup.database_url) as s:
        st = outbox.status(s)
    assert st.counts == {"claimed": 5, "failed": 1}
    assert ("failed", "550 5.1.1 no such user") in {(f[0], f[3]) for f in st.failures}
    assert outbox.backoff(1) == timedelta(seconds=30) and outbox.backoff(20) == timedelta(hours=1)


def test_concurrent_claims_never_share_a_row(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    add_members(db_url, NOW, 60)
    add_deadline_at(db_url, NOW, "cop12-reg", "14 Oct 2024 noon")
    sync(config, T1)
    at = datetime(2024, 9, 30, 23, tzinfo=UTC)
    taken: dict[str, list[int]] = {}

    def worker(owner: str) -> None:
        mine = taken.setdefault(owner, [])
        while batch := claim(config, at, owner, limit=3):
            mine.extend(c.id for c in batch)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in taken.values() for i in ids]
    assert len(every) == len(set(every)) == 60
    with session_scope(config.database_url) as s:
        assert s.scalar(select(func.count()).where(OutboxRow.state == "claimed")) == 60
