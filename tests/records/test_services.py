"""Service functions against the store: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import NOW
from tracker.db.engine import session_scope
from tracker.errors import Conflict
from tracker.records.deadlines import DeadlineInput, add_deadline, edit_deadline, list_deadlines
from tracker.records.events import EventInput, add_event, cancel_event, list_events
from tracker.records.members import MemberInput, add_member, get_member, import_members
from tracker.records.models import Deadline, Event

HOST = "tracker.example.org"


def seed(url: str) -> None:
    with session_scope(url) as s:
        add_event(s, EventInput(title="COP12", start="2024-10-14", end="2024-10-18",
                                series=["untoc-cop"]),
                  event_id="cop12", default_tz="Europe/Vienna", host=HOST, now=NOW)
        add_event(s, EventInput(title="Kyoto Congress opening", start="7 Mar 2021 10:00",
                                end="12:00", tz="Asia/Tokyo", series=["congress"]),
                  event_id="kyoto", default_tz="Europe/Vienna", host=HOST, now=NOW)
        add_deadline(s, DeadlineInput(title="Speakers", due="14 Oct 2024 noon", event="cop12",
                                      kind="speakers-list", opens="2024-09-02"),
                     deadline_id="speakers", default_tz="Europe/Vienna", host=HOST, now=NOW)
        add_deadline(s, DeadlineInput(title="Halifax fee", due="2024-11-03 01:30",
                                      tz="America/Halifax", kind="payment"),
                     deadline_id="fee", default_tz="Europe/Vienna", host=HOST, now=NOW)


def test_instants_come_back_aware_utc(db_url: str) -> None:
    seed(db_url)
    with session_scope(db_url) as s:
        speakers = s.get(Deadline, "speakers")
        assert speakers is not None
        assert speakers.due_utc == datetime(2024, 10, 14, 10, 0, tzinfo=UTC)
        assert speakers.due_utc.tzinfo is UTC and speakers.tz == "Europe/Vienna"
        assert speakers.opens_utc == datetime(2024, 9, 1, 22, 0, tzinfo=UTC)
        assert speakers.uid == "speakers.deadline@tracker.example.org"
        assert speakers.all_series == ["untoc-cop"]
        kyoto = s.get(Event, "kyoto")
        assert kyoto is not None and kyoto.start_utc == datetime(2021, 3, 7, 1, 0, tzinfo=UTC)
        cop = s.get(Event, "cop12")
        assert cop is not None and cop.all_day and cop.end_date == date(2024, 10, 18)
        fee = s.get(Deadline, "fee")  # ambiguous 01:30 in Halifax? no: Halifax changes at 02:00
        assert fee is not None and fee.due_utc == datetime(2024, 11, 3, 4, 30, tzinfo=UTC)


def test_order_and_upcoming_filters(db_url: str) -> None:
    seed(db_url)
    with session_scope(db_url) as s:
        assert [e.id for e in list_events(s, now=NOW)] == ["kyoto", "cop12"]
        assert [e.id for e in list_events(s, now=NOW, upcoming=True)] == ["cop12"]
        assert [d.id for d in list_deadlines(s, now=NOW)] == ["speakers", "fee"]
        later = datetime(2024, 10, 20, tzinfo=UTC)
        assert [d.id for d in list_deadlines(s, now=later, upcoming=True)] == ["fee"]
        assert [e.id for e in list_events(s, now=NOW, series="congress")] == ["kyoto"]


def test_edit_and_cancel_keep_uid_and_grow_sequence(db_url: str) -> None:
    seed(db_url)
    later = NOW + timedelta(hours=1)
    with session_scope(db_url) as s:
        assert edit_deadline(s, "speakers", DeadlineInput(due="15 Oct 2024 noon"), now=later)
    with session_scope(db_url) as s:
        d = s.get(Deadline, "speakers")
        assert d is not None
        assert (d.sequence, d.status, d.modified_at) == (1, "extended", later)
        assert d.created_at == NOW
        cancel_event(s, "cop12", now=later)
    with session_scope(db_url) as s:
        d = s.get(Deadline, "speakers")
        assert d is not None and d.status == "cancelled" and d.sequence == 2
        assert d.cancelled_at == later and d.uid == "speakers.deadline@tracker.example.org"


def test_failed_transaction_writes_nothing(db_url: str) -> None:
    seed(db_url)
    with pytest.raises(Conflict), session_scope(db_url) as s:
        add_event(s, EventInput(title="New", start="2025-01-01"), event_id="new",
                  default_tz="Europe/Vienna", host=HOST, now=NOW)
        add_event(s, EventInput(title="Dup", start="2025-01-01"), event_id="cop12",
                  default_tz="Europe/Vienna", host=HOST, now=NOW)
    with session_scope(db_url) as s:
        assert s.get(Event, "new") is None


def test_members_unique_email_and_import(db_url: str) -> None:
    with session_scope(db_url) as s:
        add_member(s, "Amina@Example.org", MemberInput(tz="Africa/Lagos"),
                   default_tz="Europe/Vienna", now=NOW)
    with pytest.raises(Conflict), session_scope(db_url) as s:
        add_member(s, "amina@example.org", MemberInput(), default_tz="Europe/Vienna", now=NOW)
    with session_scope(db_url) as s:
        report = import_members(
            s, "email,tz,series\namina@example.org,Asia/Karachi,ccpcj\nnew@example.org,,\n",
            default_tz="Europe/Vienna", now=NOW)
        assert (report.added, report.updated, report.unchanged) == (1, 1, 0)
    with session_scope(db_url) as s:
        amina = get_member(s, "AMINA@example.org")
        assert amina.tz == "Asia/Karachi" and amina.series == ["ccpcj"]
        assert amina.follows(["ccpcj"], "registration") and not amina.follows(["ahc"])
        new = get_member(s, "new@example.org")
        assert new.tz == "Europe/Vienna" and new.series == []
        tokens = {amina.feed_token, amina.unsubscribe_token, new.feed_token, new.unsubscribe_token}
        assert len(tokens) == 4 and all(len(t) >= 32 for t in tokens)
