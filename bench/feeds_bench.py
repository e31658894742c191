"""Publish benchmarks on a real SQLite file; figures are medians of --runs runs, each ratio
against a baseline measured in the same process run.

Run: .venv/bin/python -m bench.feeds_bench [--events N] [--deadlines N] [--imported N] [--runs N]
(defaults 5,000 events + 10,000 deadlines, 10,000 imported events, 3 runs: a few minutes).
Each figure is given as wall time and, in brackets, this process's CPU time, which moves less
when other processes share the machine's two cores.

1. Events and deadlines: `tracker.scheduler.round.publish` cold (empty per-item cache, no
   files) vs warm (one item edited) vs no change, as ratios against the cold publish.

2. 10,000 imported events (another database: events only, as `tracker import ics` leaves
   them: seven zones, a tenth all-day, descriptions with commas, semicolons and line breaks,
   some long enough to fold, non-ASCII titles; nine series tags, so a publish writes
   all.ics, deadlines.ics and nine series files):
   - cold `publish` (feed_cache emptied, no files) against **icalendar's own build**: the
     same columns read with SQLAlchemy Core, one icalendar ``Calendar`` with one ``Event`` per
     row built with ``Component.add`` (the same properties the feed shows: UID, SUMMARY,
     DTSTART/DTEND with ZoneInfo times or dates, DTSTAMP, CREATED, LAST-MODIFIED, SEQUENCE,
     STATUS, CLASS, TRANSP, DESCRIPTION, LOCATION, URL, CATEGORIES, X-TRACKER-MODE), then
     ``cal.add_missing_timezones()`` and ``cal.to_ical()``, written to one file (no fsync).
     The publish does more: it also stores 10,000 rendered VEVENTs in feed_cache and writes
     eleven files atomically with fsync.
   - `publish` after editing one event (the cache full, every file present) against a
     **plain f-string writer**: the same columns read with SQLAlchemy Core (the same result
     types), one hand-written f-string per VEVENT with the same properties (local times by
     zoneinfo and strftime, no escaping, no line folding, no VTIMEZONE, no VALARM), joined
     between BEGIN/END:VCALENDAR, encoded and written to one file (no fsync, no compare).
     A second, plainer baseline reads the same rows with the sqlite3 module alone
     (`datetime.fromisoformat`, `json.loads`; no SQLAlchemy) and writes the same bytes.
     The publish also reads the cache table, compares and rewrites the two files that
     changed (all.ics and the edited event's series file) with fsync.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from icalendar import Calendar
from icalendar import Event as VEvent
from sqlalchemy import delete, insert, select, update

from tracker.config import build_config
from tracker.db.engine import migrate, session_scope
from tracker.feeds.cache import FeedCacheEntry
from tracker.records.models import Deadline, Event
from tracker.scheduler.round import publish

ZONES = ["Europe/Vienna", "America/New_York", "America/Halifax", "Asia/Tokyo", "Africa/Lagos",
         "Asia/Karachi", "America/Mexico_City"]
TAGS = ["ccpcj", "untoc-cop", "ahc", "cd", "congress", "informal", "side-event", "csw", "cnd"]
NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
LONG = ("Informal consultations on the draft resolution; interpretation in the six official "
        "languages, documents on the conference page.\nBring your ground pass, arrive early.")


def fill(url: str, events: int, deadlines: int) -> None:
    base = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
    ev_rows = [
        dict(id=f"e{i}", uid=f"e{i}.event@bench", title=f"Session {i}: plenary, item {i % 17}",
             series=[TAGS[i % len(TAGS)]], tz=ZONES[i % len(ZONES)], all_day=False,
             start_utc=base + timedelta(hours=7 * i), end_utc=base + timedelta(hours=7 * i + 2),
             location="Vienna International Centre, CR7", mode="in-person",
             url=f"https://indico.un.org/event/{i}", description="Agenda; documents, notes",
             status="confirmed", visibility="public", sequence=0, created_at=NOW,
             modified_at=NOW)
        for i in range(events)
    ]
    dl_rows = [
        dict(id=f"d{i}", uid=f"d{i}.deadline@bench", title=f"Registration {i}",
             event_id=f"e{i % events}" if i % 2 else None, kind="registration",
             series=[TAGS[(i + 3) % len(TAGS)]], tz=ZONES[i % len(ZONES)],
             due_utc=base + timedelta(hours=3 * i), opens_utc=base + timedelta(hours=3 * i - 240),
             instructions="Register on INDICO", url="https://indico.un.org/r", email="",
             location="", status="open", visibility="public", sequence=0, created_at=NOW,
             modified_at=NOW)
        for i in range(deadlines)
    ]
    with session_scope(url) as s:
        s.execute(insert(Event), ev_rows)
        s.execute(insert(Deadline), dl_rows)


def fill_imported(url: str, events: int) -> None:
    """Events as `tracker import ics` leaves them (see the module docstring)."""
    base = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for i in range(events):
        tz = ZONES[i % len(ZONES)]
        start = base + timedelta(hours=5 * i)
        row: dict[str, Any] = dict(
            id=f"i{i}", uid=f"{i:08x}-import@calendar.example.org",
            title=f"Session {i}: Łódź–Zürich dialogue, item {i % 17}",
            series=[TAGS[i % len(TAGS)]], tz=tz, all_day=False, start_utc=start,
            end_utc=start + timedelta(minutes=90), location="Vienna International Centre, CR7",
            mode=("in-person", "online", "hybrid")[i % 3], url=f"https://indico.un.org/event/{i}",
            description=LONG if i % 3 == 0 else "Agenda; documents, notes",
            status="cancelled" if i % 50 == 0 else "confirmed", visibility="public",
            sequence=i % 4, created_at=NOW - timedelta(days=30), modified_at=NOW - timedelta(days=1),
            cancelled_at=NOW - timedelta(days=1) if i % 50 == 0 else None)
        if i % 10 == 0:  # all-day: the start of the first day and end of the last day in tz
            first = start.astimezone(ZoneInfo(tz)).date()
            row.update(all_day=True, start_date=first, end_date=first + timedelta(days=2),
                       start_utc=_midnight(first, tz), end_utc=_midnight(first + timedelta(days=3), tz))
        rows.append(row)
    with session_scope(url) as s:
        s.execute(insert(Event), rows)


def _midnight(day: date, tz: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


_COLUMNS = (Event.uid, Event.title, Event.tz, Event.all_day, Event.start_utc, Event.end_utc,
            Event.start_date, Event.end_date, Event.location, Event.mode, Event.url,
            Event.description, Event.status, Event.visibility, Event.series, Event.sequence,
            Event.created_at, Event.modified_at)
_CLASS = {"public": "PUBLIC", "members": "CONFIDENTIAL", "private": "PRIVATE"}


def icalendar_build(url: str, path: Path) -> None:
    """The baseline of the cold publish: icalendar's own build of the same events."""
    cal = Calendar()
    cal.add("PRODID", "-//bench//icalendar plain build//EN")
    cal.add("VERSION", "2.0")
    with session_scope(url) as s:
        rows = s.execute(select(*_COLUMNS).where(Event.visibility == "public")).all()
    for r in rows:
        ev = VEvent()
        ev.add("UID", r.uid)
        ev.add("SUMMARY", r.title)
        if r.all_day:
            ev.add("DTSTART", r.start_date)
            ev.add("DTEND", r.end_date + timedelta(days=1))
        else:
            zone = ZoneInfo(r.tz)
            ev.add("DTSTART", r.start_utc.astimezone(zone))
            ev.add("DTEND", r.end_utc.astimezone(zone))
        ev.add("DTSTAMP", r.modified_at)
        ev.add("CREATED", r.created_at)
        ev.add("LAST-MODIFIED", r.modified_at)
        ev.add("SEQUENCE", r.sequence)
        ev.add("STATUS", r.status.upper())
        ev.add("CLASS", _CLASS[r.visibility])
        ev.add("TRANSP", "OPAQUE")
        ev.add("DESCRIPTION", r.description)
        ev.add("LOCATION", r.location)
        ev.add("URL", r.url)
        ev.add("CATEGORIES", list(r.series))
        ev.add("X-TRACKER-MODE", r.mode)
        cal.add_component(ev)
    cal.add_missing_timezones()
    path.write_bytes(cal.to_ical())


def fstring_writer(url: str, path: Path) -> None:
    """The baseline of the one-edit publish: a plain f-string writer of the same VEVENTs."""
    with session_scope(url) as s:
        rows = s.execute(select(*_COLUMNS).where(Event.visibility == "public")).all()
    path.write_bytes(_fstring_feed(rows))


def fstring_writer_dbapi(url: str, path: Path) -> None:
    """The same writer reading the rows with the sqlite3 module alone (no SQLAlchemy):
    datetimes by `datetime.fromisoformat`, tags by `json.loads`."""
    names = ", ".join(c.key for c in _COLUMNS)
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
        raw = db.execute(f"SELECT {names} FROM events WHERE visibility = 'public'").fetchall()
    rows = [_Row(uid, title, tz, bool(all_day), _utc(start), _utc(end),
                 date.fromisoformat(first) if first else None,
                 date.fromisoformat(last) if last else None, location, mode, url_, description,
                 status, visibility, json.loads(series), sequence, _utc(created), _utc(modified))
            for (uid, title, tz, all_day, start, end, first, last, location, mode, url_,
                 description, status, visibility, series, sequence, created, modified) in raw]
    path.write_bytes(_fstring_feed(rows))


class _Row(NamedTuple):
    uid: str
    title: str
    tz: str
    all_day: bool
    start_utc: datetime
    end_utc: datetime
    start_date: date | None
    end_date: date | None
    location: str
    mode: str
    url: str
    description: str
    status: str
    visibility: str
    series: list[str]
    sequence: int
    created_at: datetime
    modified_at: datetime


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _fstring_feed(rows: Sequence[Any]) -> bytes:
    parts = ["BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//f-strings//EN\r\n"]
    stamp = "%Y%m%dT%H%M%SZ"
    for r in rows:
        if r.all_day:
            times = (f"DTSTART;VALUE=DATE:{r.start_date:%Y%m%d}\r\n"
                     f"DTEND;VALUE=DATE:{r.end_date + timedelta(days=1):%Y%m%d}\r\n")
        else:
            zone = ZoneInfo(r.tz)
            times = (f"DTSTART;TZID={r.tz}:{r.start_utc.astimezone(zone):%Y%m%dT%H%M%S}\r\n"
                     f"DTEND;TZID={r.tz}:{r.end_utc.astimezone(zone):%Y%m%dT%H%M%S}\r\n")
        parts.append(
            f"BEGIN:VEVENT\r\nSUMMARY:{r.title}\r\n{times}"
            f"DTSTAMP:{r.modified_at:{stamp}}\r\nUID:{r.uid}\r\nCATEGORIES:{','.join(r.series)}\r\n"
            f"CLASS:{_CLASS[r.visibility]}\r\nCREATED:{r.created_at:{stamp}}\r\n"
            f"DESCRIPTION:{r.description}\r\nLAST-MODIFIED:{r.modified_at:{stamp}}\r\n"
            f"LOCATION:{r.location}\r\nSEQUENCE:{r.sequence}\r\nSTATUS:{r.status.upper()}\r\n"
            f"TRANSP:OPAQUE\r\nURL:{r.url}\r\nX-TRACKER-MODE:{r.mode}\r\nEND:VEVENT\r\n")
    parts.append("END:VCALENDAR\r\n")
    return "".join(parts).encode("utf-8")


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU time (this process) moves less than wall time when
    other processes share the two cores, so both are reported."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def mixed(tmp: Path, events: int, deadlines: int, runs: int) -> None:
    url = f"sqlite:///{tmp / 'bench.db'}"
    migrate(url)
    fill(url, events, deadlines)
    config = build_config({"tracker": {"database": url}}, base_dir=tmp)
    out = tmp / "calendars"
    cold, warm, same = [], [], []
    for run in range(runs):
        _empty(url, out)
        cold.append(timed(lambda: publish(config, NOW, out)))
        _edit(url, Event.id == "e1", run)
        warm.append(timed(lambda: publish(config, NOW, out)))
        same.append(timed(lambda: publish(config, NOW, out)))
    size = sum(f.stat().st_size for f in out.glob("*.ics"))
    items = events + deadlines
    (c, cc), (w, wc), (n, nc) = (medians(x) for x in (cold, warm, same))
    print(f"publish of {events:,} events + {deadlines:,} deadlines "
          f"({items:,} items, {size / 1e6:.1f} MB of feeds), median of {runs} runs, wall (CPU):")
    print(f"  cold (empty cache, all files new)  {c:7.2f} s ({cc:6.2f})   1.00x   "
          f"{items / c:8.0f} items/s")
    print(f"  warm (cache, one item edited)      {w:7.2f} s ({wc:6.2f})   {c / w:5.1f}x faster")
    print(f"  no change (nothing written)        {n:7.2f} s ({nc:6.2f})   {c / n:5.1f}x faster")


def imported(tmp: Path, events: int, runs: int) -> None:
    url = f"sqlite:///{tmp / 'imported.db'}"
    migrate(url)
    fill_imported(url, events)
    config = build_config({"tracker": {"database": url}}, base_dir=tmp)
    out = tmp / "imported"
    plain = tmp / "baseline.ics"
    cold, build, warm, fstr, fraw = [], [], [], [], []
    for run in range(runs):
        _empty(url, out)
        cold.append(timed(lambda: publish(config, NOW, out)))
        build.append(timed(lambda: icalendar_build(url, plain)))
        _edit(url, Event.id == "i1", run)
        warm.append(timed(lambda: publish(config, NOW, out)))
        fstr.append(timed(lambda: fstring_writer(url, plain)))
        fraw.append(timed(lambda: fstring_writer_dbapi(url, plain)))
    (c, cc), (b, bc), (w, wc), (f, fc), (r, rc) = (
        medians(x) for x in (cold, build, warm, fstr, fraw))
    print(f"publish of {events:,} imported events, median of {runs} runs, wall (CPU); "
          f"ratio: publish / baseline of the same run, wall (CPU):")
    print(f"  cold publish                          {c:7.3f} s ({cc:6.3f})   "
          f"{c / b:5.2f}x ({cc / bc:4.2f}x) icalendar's own build")
    print(f"  icalendar build + add_missing_timezones + to_ical  {b:7.3f} s ({bc:6.3f})")
    print(f"  publish after one edit                {w:7.3f} s ({wc:6.3f})   "
          f"{w / f:5.2f}x ({wc / fc:4.2f}x) the f-string writer with a Core read, "
          f"{w / r:5.2f}x ({wc / rc:4.2f}x) with a sqlite3 read")
    print(f"  f-string writer, SQLAlchemy Core read {f:7.3f} s ({fc:6.3f})")
    print(f"  f-string writer, sqlite3 module read  {r:7.3f} s ({rc:6.3f})")


def _empty(url: str, out: Path) -> None:
    with session_scope(url) as s:
        s.execute(delete(FeedCacheEntry))
    for f in out.glob("*.ics"):
        f.unlink()


def _edit(url: str, which: Any, run: int) -> None:
    """The secretary edits one event (title, sequence, modified_at)."""
    with session_scope(url) as s:
        s.execute(update(Event).where(which).values(
            title=f"Session 1 moved ({run})", sequence=run + 10,
            modified_at=NOW + timedelta(minutes=run + 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--deadlines", type=int, default=10_000)
    parser.add_argument("--imported", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.events or args.deadlines:
            mixed(Path(tmp), args.events, args.deadlines, args.runs)
        if args.imported:
            imported(Path(tmp), args.imported, args.runs)


if __name__ == "__main__":
    main()
