"""`import_members` in batches: across batch boundaries it stores what `add_member` would."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tracker.db.engine import session_scope
from tracker.errors import TrackerError
from tracker.records.members import IMPORT_BATCH, MemberInput, add_member, import_members
from tracker.records.models import Member

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
LATER = datetime(2024, 9, 2, 8, 0, tzinfo=UTC)
ZONES = ["Africa/Lagos", "Asia/Karachi", "America/Halifax", "Europe/Vienna", ""]


def _csv(count: int) -> str:
    lines = ["email,name,organisation,tz,series,remind"]
    for i in range(count):
        remind = '"7d,1d"' if i % 3 == 0 else ""  # rows with and without offsets interleave
        series = "untoc-cop" if i % 2 else ""
        lines.append(f"M{i:05d}@Example.NET,Member {i},NGO {i % 7},{ZONES[i % 5]},{series},"
                     f"{remind}")
    return "\n".join(lines) + "\n"


def _as_stored(m: Member) -> tuple[object, ...]:
    return (m.email, m.name, m.organisation, m.tz, m.series, m.kinds, m.remind, m.active, m.mail,
            m.created_at, m.modified_at)


def test_bulk_import_stores_what_add_member_stores_across_batches(db_url: str) -> None:
    count = 2 * IMPORT_BATCH + 37  # three batches, the last one partial
    with session_scope(db_url) as s:  # two members exist already: one changes, one does not
        add_member(s, "m00001@example.net", MemberInput(name="Old name", tz="Asia/Tokyo"),
                   default_tz="Europe/Vienna", now=NOW)
        add_member(s, "m00002@example.net", MemberInput(name="Member 2", organisation="NGO 2",
                                                        tz="America/Halifax", series=[""],
                                                        remind=""),
                   default_tz="Europe/Vienna", now=NOW)
    with session_scope(db_url) as s:
        report = import_members(s, _csv(count), default_tz="Europe/Vienna", now=LATER)
    assert (report.added, report.updated, report.unchanged) == (count - 2, 1, 1)

    with session_scope(db_url) as s:
        members = {m.email: m for m in s.scalars(select(Member))}
        assert len(members) == count
        updated, unchanged = members["m00001@example.net"], members["m00002@example.net"]
        assert (updated.name, updated.tz, updated.modified_at) == ("Member 1", "Asia/Karachi",
                                                                  LATER)
        assert unchanged.modified_at == NOW  # no real change, no new modification time
        # Each new row equals what add_member stores for the same input, in a fresh session.
        for i in (0, 3, 4, IMPORT_BATCH - 1, IMPORT_BATCH, count - 1):
            email = f"m{i:05d}@example.net"
            got = members[email]
            s.delete(got)
            s.flush()
            ref = add_member(s, email, MemberInput(
                name=f"Member {i}", organisation=f"NGO {i % 7}", tz=ZONES[i % 5] or None,
                series=["untoc-cop" if i % 2 else ""], remind="7d,1d" if i % 3 == 0 else ""),
                default_tz="Europe/Vienna", now=LATER)
            assert _as_stored(got) == _as_stored(ref), email
        s.rollback()
    with session_scope(db_url) as s:
        tokens = list(s.scalars(select(Member.feed_token))) + list(
            s.scalars(select(Member.unsubscribe_token)))
        assert len(set(tokens)) == 2 * count  # every token unique, feed and unsubscribe apart
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", t) for t in tokens)  # 192 random bits


def test_a_bad_row_in_the_last_batch_writes_nothing(db_url: str) -> None:
    text = _csv(IMPORT_BATCH + 5) + "late@example.net,Late,,Mars/Olympus,,\n"
    with pytest.raises(TrackerError, match=rf"line {IMPORT_BATCH + 7}: tz: "), \
            session_scope(db_url) as s:
        import_members(s, text, default_tz="Europe/Vienna", now=NOW)
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Member)) == 0
