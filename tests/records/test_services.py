"""Service functions against the store: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW
from tracker.db.engine import session_scope
from tracker.errors import Conflict, TrackerError
from tracker.records.deadlines import DeadlineInput, add_deadline, edit_deadline, list_deadlines
from tracker.records.events import EventInput, add_event, cancel_event, list_events
from tracker.records.lookup import get_member
from tracker.records.members import MemberInput, add_member, import_members
from tracker.records.models import Deadline, Event
from tracker.records.sample import load_sample

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


# --- services speak in fields; every door says where (CLI flags are tested in tests/cli) ------

BAD_VALUES = [
    ("event", {"title": "X", "start": "2024-10-14 10:00", "end": "09:00"}, "end"),
    ("event", {"title": "X"}, "start"),
    ("event", {"title": "X", "start": "14 Oct 2024 10:00", "all_day": True}, "all_day"),
    ("event", {"title": "X", "start": "2024-10-14", "tz": "GMT+1"}, "tz"),
    ("event", {"title": "X", "start": "2024-10-14", "mode": "telepathy"}, "mode"),
    ("event", {"title": "", "start": "2024-10-14"}, "title"),
    ("deadline", {"title": "X", "due": "2024-03-31 02:30"}, "due"),
    ("deadline", {"title": "X", "due": "2024-10-04", "opens": "2024-10-05"}, "opens"),
    ("deadline", {"title": "X", "due": "2024-10-04", "event": "nope"}, "event"),
    ("deadline", {"title": "X", "due": "2024-10-04", "url": "indico"}, "url"),
    ("deadline", {"title": "X", "due": "2024-10-04", "remind": "soon"}, "remind"),
    ("deadline", {"title": "X", "due": "2024-10-04", "email": "nobody"}, "email"),
    ("member", {"tz": "Lagos"}, "tz"),
    ("member", {"remind": "1y"}, "remind"),
    ("member", {"organisation": "A\x07B"}, "organisation"),
]


@pytest.mark.parametrize("what,values,field", BAD_VALUES,
                         ids=[f"{w}-{f}" for w, _, f in BAD_VALUES])
def test_services_name_the_field_never_a_cli_flag(
    sqlite_url: str, what: str, values: dict[str, object], field: str
) -> None:
    with pytest.raises(TrackerError) as caught, session_scope(sqlite_url) as s:
        if what == "event":
            add_event(s, EventInput(**values), event_id=None,  # type: ignore[arg-type]
                      default_tz="Europe/Vienna", host=HOST, now=NOW)
        elif what == "deadline":
            add_deadline(s, DeadlineInput(**values), deadline_id=None,  # type: ignore[arg-type]
                         default_tz="Europe/Vienna", host=HOST, now=NOW)
        else:
            add_member(s, "a@example.org", MemberInput(**values),  # type: ignore[arg-type]
                       default_tz="Europe/Vienna", now=NOW)
    assert caught.value.field == field and caught.value.where == ""
    assert "--" not in str(caught.value) and "tracker " not in str(caught.value)


def test_sample_file_errors_name_the_file_the_item_and_the_field(sqlite_url: str) -> None:
    text = (Path(__file__).resolve().parents[2] / "examples" / "cop12.toml").read_text()
    bad = text.replace('due = "14 Oct 2024 noon"', 'due = "31 Mar 2024 02:30"')
    assert bad != text
    with pytest.raises(TrackerError) as caught, session_scope(sqlite_url) as s:
        load_sample(s, bad, "examples/cop12.toml", default_tz="Europe/Vienna", host=HOST, now=NOW)
    assert str(caught.value).startswith(
        "examples/cop12.toml: deadline cop12-speakers: due: 2024-03-31 02:30 does not exist")
    with pytest.raises(TrackerError, match=r"^x\.toml: member a@example\.org: colour: unknown key"), \
            session_scope(sqlite_url) as s:
        load_sample(s, '[[member]]\nemail = "a@example.org"\ncolour = "red"\n', "x.toml",
                    default_tz="Europe/Vienna", host=HOST, now=NOW)
    with session_scope(sqlite_url) as s:  # nothing of either file was written
        assert s.scalar(select(func.count()).select_from(Event)) == 0


def test_member_csv_errors_name_the_real_file_and_line(sqlite_url: str) -> None:
    csv = "email,name,organisation,tz,series,remind\nok@example.org,A,B,Africa/Lagos,,\n" \
          "x@example.org,A,B,Lagos,,\n"
    with pytest.raises(TrackerError) as caught, session_scope(sqlite_url) as s:
        import_members(s, csv, default_tz="Europe/Vienna", now=NOW, source="members 2025.csv")
    assert str(caught.value).startswith("members 2025.csv line 3: tz: unknown time zone 'Lagos' (did you mean Africa/Lagos?)")


def add(url: str, ident: str, due: str, tz: str = "Europe/Vienna") -> None:
    with session_scope(url) as s:
        add_deadline(s, DeadlineInput(title=ident, due=due, tz=tz), deadline_id=ident,
                     default_tz="Europe/Vienna", host=HOST, now=NOW)


def edit_due(url: str, ident: str, due: str) -> Deadline:
    with session_scope(url) as s:
        edit_deadline(s, ident, DeadlineInput(due=due), now=NOW)
        found = s.get(Deadline, ident)
        assert found is not None
        s.expunge(found)
        return found


def test_due_midnight_is_due_on_that_date(db_url: str) -> None:
    """'9 May 2025 midnight' was stored as 10 May 00:00: now it is the end of 9 May, as a date."""
    add(db_url, "by-midnight", "9 May 2025 midnight")
    add(db_url, "on-date", "2025-05-09")
    add(db_url, "h24", "2025-05-09 24:00", tz="America/Halifax")
    with session_scope(db_url) as s:
        a, b = s.get(Deadline, "by-midnight"), s.get(Deadline, "on-date")
        h = s.get(Deadline, "h24")
        assert a is not None and b is not None and h is not None
        assert (a.due_utc, a.due_date) == (b.due_utc, b.due_date)
        assert a.due_date == date(2025, 5, 9)
        assert a.due_utc == datetime(2025, 5, 9, 21, 59, tzinfo=UTC)  # 23:59 CEST
        assert h.due_date == date(2025, 5, 9) and h.due_utc == datetime(2025, 5, 10, 2, 59,
                                                                         tzinfo=UTC)
    moved = edit_due(db_url, "by-midnight", "12 May 2025 midnight")
    assert moved.due_date == date(2025, 5, 12) and moved.status == "extended"


def test_extended_only_while_later_than_the_first_due(db_url: str) -> None:
    add(db_url, "reg", "2024-10-04")
    assert edit_due(db_url, "reg", "2024-10-11").status == "extended"
    back = edit_due(db_url, "reg", "2024-10-04")  # moved back: open again
    assert back.status == "open" and back.first_due_date == date(2024, 10, 4)
    assert edit_due(db_url, "reg", "2024-10-01").status == "open"  # earlier
    # earlier, then a little later but still before the first due: not extended
    assert edit_due(db_url, "reg", "2024-10-03").status == "open"
    assert edit_due(db_url, "reg", "2024-10-05").status == "extended"
    with session_scope(db_url) as s:  # an explicit status still wins
        edit_deadline(s, "reg", DeadlineInput(status="open"), now=NOW)
        found = s.get(Deadline, "reg")
        assert found is not None and found.status == "open"


def test_mail_flag_and_active(db_url: str) -> None:
    """--mail/--no-mail changes mail only; --active/--inactive changes both."""
    with session_scope(db_url) as s:
        add_member(s, "a@example.org", MemberInput(), default_tz="UTC", now=NOW)
    from tracker.records.members import edit_member

    def flags() -> tuple[bool, bool]:
        with session_scope(db_url) as s:
            m = get_member(s, "a@example.org")
            return m.active, m.mail

    assert flags() == (True, True)
    with session_scope(db_url) as s:
        assert edit_member(s, "a@example.org", MemberInput(mail=False), now=NOW) == ["mail"]
    assert flags() == (True, False)
    with session_scope(db_url) as s:
        edit_member(s, "a@example.org", MemberInput(active=True), now=NOW)
    assert flags() == (True, True)
    with session_scope(db_url) as s:
        edit_member(s, "a@example.org", MemberInput(active=False), now=NOW)
    assert flags() == (False, False)
    with session_scope(db_url) as s:
        edit_member(s, "a@example.org", MemberInput(active=True, mail=False), now=NOW)
    assert flags() == (True, False)


def test_event_ending_at_24h_ends_at_the_end_of_its_day() -> None:
    from tracker.records.events import resolve_span

    for end in ("24:00", "midnight", "2025-05-09 24:00"):
        span = resolve_span("9 May 2025 20:00", end, "Europe/Vienna", None)
        assert span.end_utc == datetime(2025, 5, 9, 22, 0, tzinfo=UTC), end
    start = resolve_span("9 May 2025 midnight", None, "Europe/Vienna", None)
    assert not start.all_day and start.start_utc == datetime(2025, 5, 9, 22, 0, tzinfo=UTC)
