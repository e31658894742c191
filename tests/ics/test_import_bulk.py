"""`import ics` of a file larger than one insert batch and one parsing piece: what it stores,
how it reads, and which error it reports.

The file is our own feed of more than two IMPORT_BATCHes of items (timed, all-day, recurring with
a cancelled and a moved occurrence, deadlines with and without a window), published from a
SQLite file and imported into the test's store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tests.helpers.feed_data import NOW
from tests.helpers.feeds import make_config, publish
from tracker.db.engine import get_engine, migrate, session_scope
from tracker.errors import TrackerError
from tracker.ics import parse
from tracker.ics.apply import IMPORT_BATCH, import_ics
from tracker.ics.parse import CHUNK, parse_ics
from tracker.records.models import Deadline, Event, OccurrenceChange
from tracker.timeparse import start_of_day

EVENTS = IMPORT_BATCH + 21
DEADLINES = IMPORT_BATCH + 16  # with the events: two full batches and a partial one
ZONES = ["Europe/Vienna", "America/Halifax", "Asia/Karachi", "Africa/Lagos", "Asia/Tokyo"]
BASE = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def source_rows() -> tuple[list[dict[str, object]], list[dict[str, object]],
                           list[dict[str, object]]]:
    common = dict(sequence=2, created_at=NOW, modified_at=NOW, visibility="public")
    events, changes = [], []
    for i in range(EVENTS):
        start = BASE + timedelta(hours=5 * i)
        row: dict[str, object] = dict(
            id=f"e{i}", uid=f"e{i}@bulk.example", title=f"Session {i}", series=["ccpcj"],
            tz=ZONES[i % len(ZONES)], all_day=False, start_utc=start,
            end_utc=start + timedelta(hours=2), location="VIC, CR7", mode="hybrid",
            url=f"https://indico.un.org/event/{i}", description=f"Agenda {i}",
            status="tentative" if i % 7 == 0 else "confirmed", rrule=None, rdates=[], **common)
        if i % 10 == 4:
            day = date(2025, 2, 1) + timedelta(days=i)
            row.update(all_day=True, tz="Europe/Vienna", start_date=day, end_date=day,
                       start_utc=start_of_day(day, "Europe/Vienna"),
                       end_utc=start_of_day(day + timedelta(days=1), "Europe/Vienna"))
        elif i % 25 == 3:  # in Tokyo: no DST, so a week is 7 x 24 hours
            row.update(tz="Asia/Tokyo", rrule="FREQ=WEEKLY;COUNT=6")
            moved = start + timedelta(days=14, hours=2)
            changes += [dict(event_id=f"e{i}", original_utc=start + timedelta(days=7),
                             cancelled=True, modified_at=NOW),
                        dict(event_id=f"e{i}", original_utc=start + timedelta(days=14),
                             cancelled=False, start_utc=moved, end_utc=moved + timedelta(hours=2),
                             modified_at=NOW)]
        events.append(row)
    deadlines = [dict(
        id=f"d{i}", uid=f"d{i}@bulk.example", title=f"Register {i}", event_id=None,
        kind=["registration", "speakers-list", "payment"][i % 3], series=["untoc-cop"],
        tz=ZONES[i % len(ZONES)], due_utc=BASE + timedelta(hours=3 * i, minutes=15),
        opens_utc=BASE + timedelta(hours=3 * i - 100) if i % 3 == 0 else None,
        instructions=f"Bring form {i}.", url="https://indico.un.org/r",
        email="registry@example.org" if i % 2 else "", location="", status="open", **common)
        for i in range(DEADLINES)]
    return events, deadlines, changes


def published_feed(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    migrate(url)
    events, deadlines, changes = source_rows()
    with session_scope(url) as s:
        for model, rows in ((Event, events), (OccurrenceChange, changes), (Deadline, deadlines)):
            s.execute(insert(model), rows)
    config = make_config(tmp_path / "source", url)
    publish(config, NOW)
    return config.calendars_dir / "all.ics"


def _import(s: Session, feed: Path) -> tuple[int, int, int, int]:
    report = import_ics(s, feed.read_bytes(), feed.name, default_tz="Europe/Vienna", series=[],
                        host="tracker.example.org", now=NOW)
    return report.added, report.updated, report.unchanged, report.skipped


def _stored(url: str) -> dict[str, tuple[object, ...]]:
    with session_scope(url) as s:
        got: dict[str, tuple[object, ...]] = {}
        for ev in s.scalars(select(Event)):
            changes = sorted((c.original_utc, c.cancelled, c.start_utc, c.end_utc)
                             for c in ev.changes)
            got[ev.uid] = (ev.title, ev.tz, ev.all_day, ev.start_utc, ev.end_utc,
                           ev.start_date, ev.end_date, ev.status, ev.mode, ev.series,
                           ev.sequence, ev.rrule, changes)
        for dl in s.scalars(select(Deadline)):
            got[dl.uid] = (dl.title, dl.tz, dl.kind, dl.due_utc, dl.opens_utc, dl.instructions,
                           dl.email, dl.status, dl.series, dl.sequence, dl.first_due_utc,
                           dl.event_id, dl.remind)
        return got


def _expected() -> dict[str, tuple[object, ...]]:
    events, deadlines, changes = source_rows()
    out: dict[str, tuple[object, ...]] = {}
    for e in events:
        mine = sorted((c["original_utc"], c["cancelled"], c.get("start_utc"), c.get("end_utc"))
                      for c in changes if c["event_id"] == e["id"])
        out[str(e["uid"])] = (e["title"], e["tz"], e["all_day"], e["start_utc"], e["end_utc"],
                              e.get("start_date"), e.get("end_date"), e["status"], e["mode"],
                              e["series"], e["sequence"], e["rrule"], mine)
    for d in deadlines:
        out[str(d["uid"])] = (d["title"], d["tz"], d["kind"], d["due_utc"], d["opens_utc"],
                              d["instructions"], d["email"], d["status"], d["series"],
                              d["sequence"], d["due_utc"], None, None)
    return out


def test_a_file_of_several_batches_is_stored_as_it_was_published(
        tmp_path: Path, db_url: str) -> None:
    feed = published_feed(tmp_path)
    with session_scope(db_url) as s:
        assert _import(s, feed) == (EVENTS + DEADLINES, 0, 0, 0)
        # New items went in as rows, not as ORM objects held until the end of the import.
        assert not [o for o in s.identity_map.values() if isinstance(o, Event | Deadline)]
    assert _stored(db_url) == _expected()


def test_importing_it_again_reads_in_a_few_queries(tmp_path: Path, db_url: str) -> None:
    """Every item is compared with its stored copy (occurrence changes included) without a
    query per item: the statements grow with the batches, not with the items."""
    feed = published_feed(tmp_path)
    with session_scope(db_url) as s:
        _import(s, feed)
    statements: list[str] = []

    def count(conn: Connection, cursor: object, sql: str, *args: object) -> None:
        statements.append(sql)

    engine = get_engine(db_url)
    event.listen(engine, "before_cursor_execute", count)
    try:
        with session_scope(db_url) as s:
            assert _import(s, feed) == (0, 0, EVENTS + DEADLINES, 0)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) < 40, len(statements)
    assert _stored(db_url) == _expected()


@pytest.fixture(scope="module")
def feed_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return published_feed(tmp_path_factory.mktemp("feed")).read_bytes()


def _error(data: bytes) -> str:
    with pytest.raises(TrackerError) as caught:
        parse_ics(data, "Europe/Vienna", [], "all.ics")
    return str(caught.value)


def _before_last_end(data: bytes, line: bytes) -> bytes:
    cut = data.rindex(b"END:VEVENT")
    return data[:cut] + line + b"\r\n" + data[cut:]


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d.replace(b"SEQUENCE:2", b"SEQUENCE:-1", 1), "SEQUENCE"),
    (lambda d: _before_last_end(d.replace(b"SEQUENCE:2", b"SEQUENCE:-1", 1),
                                b"BEGIN;X=1:VALARM"), "is not a valid iCalendar file"),
    (lambda d: _before_last_end(d.replace(b"SEQUENCE:2", b"SEQUENCE:-1", 1), b"END:VTODO"),
     "is not a valid iCalendar file"),
], ids=["bad-item", "bad-item-then-unreadable-piece", "bad-item-then-broken-nesting"])
def test_a_file_read_in_pieces_fails_as_the_whole_file_does(
        feed_bytes: bytes, monkeypatch: pytest.MonkeyPatch,
        change: Callable[[bytes], bytes], words: str) -> None:
    """The first problem reported is the whole file's: icalendar refusing a later piece comes
    before a bad value in an earlier one, as it does when icalendar reads the file at once."""
    data = change(feed_bytes)
    assert data.count(b"BEGIN:VEVENT") > 2 * CHUNK  # three pieces
    in_pieces = _error(data)
    monkeypatch.setattr(parse, "CHUNK", 10**9)  # one piece: the whole file
    assert _error(data) == in_pieces
    assert words in in_pieces, in_pieces


def test_a_file_read_in_pieces_gives_what_the_whole_file_gives(
        feed_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    in_pieces = parse_ics(feed_bytes, "Europe/Vienna", ["extra"], "all.ics",
                          progress=lambda done, total: calls.append((done, total)))
    monkeypatch.setattr(parse, "CHUNK", 10**9)
    assert parse_ics(feed_bytes, "Europe/Vienna", ["extra"], "all.ics") == in_pieces
    vevents = feed_bytes.count(b"BEGIN:VEVENT")  # the items and the moved occurrences
    assert calls == [(n, vevents) for n in range(1, vevents + 1)]
