"""The same limits on SQLite and PostgreSQL, checked at the door (never an SQL error)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.helpers.cli import Cli
from tests.ics.test_doors import calendar, vevent
from tracker.db.engine import session_scope
from tracker.errors import TrackerError
from tracker.ics.apply import import_ics
from tracker.records.deadlines import DeadlineInput, add_deadline
from tracker.records.events import EventInput, add_event
from tracker.records.members import MemberInput, add_member
from tracker.records.models import Deadline, Event, Member

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
OFFSETS_199 = ",".join(f"{n}m" for n in range(1, 200))


def _event(**values: object) -> EventInput:
    base: dict[str, object] = {"title": "Plenary", "start": "14 Oct 2024 10:00"}
    base.update(values)
    return EventInput(**base)  # type: ignore[arg-type]


CASES = {
    "nul-title": lambda s: add_event(s, _event(title="a\x00b"), event_id=None,
                                     default_tz="Europe/Vienna", host="h", now=NOW),
    "nul-location": lambda s: add_event(s, _event(location="VIC\x00"), event_id=None,
                                        default_tz="Europe/Vienna", host="h", now=NOW),
    "long-mode": lambda s: add_event(s, _event(mode="m" * 50), event_id=None,
                                     default_tz="Europe/Vienna", host="h", now=NOW),
    "offsets-199": lambda s: add_deadline(
        s, DeadlineInput(title="R", due="4 Oct 2024", remind=OFFSETS_199), deadline_id=None,
        default_tz="Europe/Vienna", host="h", now=NOW),
    "member-offsets-199": lambda s: add_member(
        s, "a@example.org", MemberInput(remind=OFFSETS_199), default_tz="Europe/Vienna", now=NOW),
    "uid-5000": lambda s: import_ics(
        s, calendar(vevent(uid="u" * 5000)), "x.ics", default_tz="Europe/Vienna", series=[],
        host="h", now=NOW),
    "nul-member-name": lambda s: add_member(
        s, "a@example.org", MemberInput(name="A\x00"), default_tz="Europe/Vienna", now=NOW),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_limits_are_checked_before_the_database_sees_them(db_url: str, case: str) -> None:
    with pytest.raises(TrackerError) as caught, session_scope(db_url) as s:
        CASES[case](s)
    assert type(caught.value).exit_code == 2 and "SQL" not in str(caught.value)
    with session_scope(db_url) as s:
        for model in (Event, Deadline, Member):
            assert s.scalar(select(func.count()).select_from(model)) == 0


def test_twenty_offsets_are_accepted(db_url: str) -> None:
    twenty = ",".join(f"{n}d" for n in range(1, 21))
    with session_scope(db_url) as s:
        add_deadline(s, DeadlineInput(title="R", due="4 Oct 2024", remind=twenty),
                     deadline_id="r", default_tz="Europe/Vienna", host="h", now=NOW)
    with session_scope(db_url) as s:
        stored = s.scalar(select(Deadline.remind))
        assert stored is not None and len(stored.split(",")) == 20


def test_cli_on_postgresql_never_prints_sql(pg_url: str, config_file: Path) -> None:
    cli = Cli(config_file)
    result = cli("--db", pg_url, "deadline", "add", "R", "--due", "4 Oct 2024",
                 "--remind", OFFSETS_199)
    assert result.exit_code == 2 and "--remind" in result.stderr
    assert "SQL" not in result.stderr and "INSERT" not in result.stderr
