"""ICS import: `import_ics` of our own feed with 10,000 events + 20,000 deadlines vs a bare bulk
INSERT of the same rows.

    .venv/bin/python -m bench.ics_import_bench [--events 10000] [--deadlines 20000] [--runs 3]
        [--db-url URL] [--profile] [--whole]

The file is made by the project itself: rows go into a source SQLite file (a recurring event
with a cancelled and a moved occurrence every 50th, an all-day event every 20th, deadlines with
and without a window, half of them attached to an event) and `publish` writes `all.ics`.

Real path: what `tracker import ics all.ics` does after reading the file: parse every VEVENT
with icalendar, check it, match UIDs, insert, commit, in one transaction on a fresh database;
the same child then imports the file again (every item unchanged) and reports that time too.
Parse only: `parse_ics` alone, no database; with `--whole` also in one piece, as icalendar read
the file before it was split into pieces of `parse.CHUNK` VEVENTs. Baseline, in the same run:
Core `INSERT` executemany of the source's own event, deadline and occurrence-change rows, read
beforehand, in one transaction on another fresh database. Each measurement runs in its own child process
(peak RSS of that path alone, as in bench.member_import_bench). Medians of `--runs`; the ratio
import/bare is the figure to watch.

`--profile` runs the import once under cProfile in this process and prints the top functions.
`--db-url` runs the import and the baseline on PostgreSQL (a scratch database migrated by
`tracker init` whose events and deadlines may be deleted).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, insert, select  # noqa: E402

from bench.member_import_bench import medians, peak_rss_mb, run_child  # noqa: E402
from tracker.config import build_config  # noqa: E402
from tracker.db.engine import dispose_engines, get_engine, migrate, session_scope  # noqa: E402
from tracker.ics import parse  # noqa: E402
from tracker.ics.apply import import_ics  # noqa: E402
from tracker.ics.parse import parse_ics  # noqa: E402
from tracker.records.models import Deadline, Event, OccurrenceChange  # noqa: E402
from tracker.scheduler.round import publish  # noqa: E402
from tracker.timeparse import start_of_day  # noqa: E402

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
ZONES = ["Europe/Vienna", "America/New_York", "America/Halifax", "Asia/Tokyo", "Africa/Lagos",
         "Asia/Karachi", "America/Mexico_City"]
TAGS = ["ccpcj", "untoc-cop", "ahc", "cd", "congress", "informal", "side-event", "csw", "cnd"]
TABLES = [Event.__table__, Deadline.__table__, OccurrenceChange.__table__]


def source_rows(events: int, deadlines: int) -> dict[str, list[dict[str, object]]]:
    """Event, deadline and occurrence-change rows of the kinds an import meets."""
    base = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    common = dict(sequence=0, created_at=NOW, modified_at=NOW, visibility="public")
    ev: list[dict[str, object]] = []
    changes: list[dict[str, object]] = []
    for i in range(events):
        start = base + timedelta(hours=7 * i)
        row: dict[str, object] = dict(
            id=f"e{i}", uid=f"e{i}.event@bench", title=f"Session {i}: plenary, item {i % 17}",
            series=[TAGS[i % len(TAGS)]], tz=ZONES[i % len(ZONES)], all_day=False,
            start_utc=start, end_utc=start + timedelta(hours=2), start_date=None,
            end_date=None, location="Vienna International Centre, CR7", mode="in-person",
            url=f"https://indico.un.org/event/{i}", description="Agenda; documents, notes",
            status="confirmed", cancelled_at=None, rrule=None, rdates=[], **common)
        if i % 20 == 7:  # all-day, three days, in its zone
            day = date(2025, 1, 6) + timedelta(days=i % 700)
            row.update(all_day=True, tz="Europe/Vienna", start_date=day,
                       end_date=day + timedelta(days=2),
                       start_utc=start_of_day(day, "Europe/Vienna"),
                       end_utc=start_of_day(day + timedelta(days=3), "Europe/Vienna"))
        elif i % 50 == 3:  # weekly in a zone without DST: one cancelled, one moved occurrence
            row.update(tz="Asia/Tokyo", rrule="FREQ=WEEKLY;COUNT=10")
            changes.append(dict(event_id=f"e{i}", original_utc=start + timedelta(days=7),
                                cancelled=True, start_utc=None, end_utc=None, modified_at=NOW))
            moved = start + timedelta(days=14, hours=1)
            changes.append(dict(event_id=f"e{i}", original_utc=start + timedelta(days=14),
                                cancelled=False, start_utc=moved,
                                end_utc=moved + timedelta(hours=2), modified_at=NOW))
        ev.append(row)
    dl = [dict(id=f"d{i}", uid=f"d{i}.deadline@bench", title=f"Registration {i}",
               event_id=f"e{i % events}" if i % 2 and events else None,
               kind=["registration", "speakers-list", "submission"][i % 3],
               series=[TAGS[(i + 3) % len(TAGS)]], tz=ZONES[i % len(ZONES)],
               due_utc=base + timedelta(hours=3 * i, minutes=30), due_date=None,
               opens_utc=base + timedelta(hours=3 * i - 240) if i % 4 == 0 else None,
               opens_date=None, first_due_utc=base + timedelta(hours=3 * i, minutes=30),
               first_due_date=None, instructions="Register on INDICO; bring your passport.",
               url="https://indico.un.org/r", email="registry@example.org" if i % 5 else "",
               location="", status="open", remind=None, cancelled_at=None, **common)
          for i in range(deadlines)]
    return {"events": ev, "deadlines": dl, "occurrence_changes": changes}


def make_feed(folder: Path, events: int, deadlines: int) -> tuple[Path, str]:
    """Store the rows in a source SQLite file and publish it; (all.ics, source URL)."""
    url = f"sqlite:///{folder / 'source.db'}"
    migrate(url)
    rows = source_rows(events, deadlines)
    with session_scope(url) as s:
        for table in TABLES:
            if rows[table.name]:
                s.execute(insert(table), rows[table.name])
    config = build_config({"tracker": {"database": url}}, base_dir=folder)
    publish(config, NOW, folder / "calendars")
    return folder / "calendars" / "all.ics", url


def fresh(url: str) -> None:
    migrate(url)
    with session_scope(url) as s:
        for table in reversed(TABLES):
            s.execute(delete(table))


def counts(url: str) -> tuple[int, int]:
    with session_scope(url) as s:
        return (int(s.scalar(select(func.count()).select_from(Event)) or 0),
                int(s.scalar(select(func.count()).select_from(Deadline)) or 0))


def _import(url: str, data: bytes, name: str) -> tuple[float, int]:
    began = time.perf_counter()
    with session_scope(url) as s:
        report = import_ics(s, data, name, default_tz="Europe/Vienna", series=[],
                            host="bench.example.org", now=NOW)
    return time.perf_counter() - began, report.added


def one(path: str, url: str, feed: Path, source: str, events: int,
        deadlines: int) -> dict[str, float]:
    """Child process: one measurement; returns seconds and peak RSS in MB."""
    result: dict[str, float] = {}
    if path in ("parse", "whole"):
        if path == "whole":  # one piece: what icalendar builds when it reads the file at once
            parse.CHUNK = 10**9
        data = feed.read_bytes()
        began, cpu = time.perf_counter(), time.process_time()
        items, notes = parse_ics(data, "Europe/Vienna", [], feed.name)
        result["seconds"] = time.perf_counter() - began
        result["cpu"] = time.process_time() - cpu
        assert len(items) == events + deadlines and not notes, notes[:3]
    elif path == "import":
        fresh(url)
        data = feed.read_bytes()
        cpu = time.process_time()
        result["seconds"], added = _import(url, data, feed.name)
        result["cpu"] = time.process_time() - cpu
        assert added == events + deadlines, added
        assert counts(url) == (events, deadlines)
        result["again"], added = _import(url, data, feed.name)  # every item unchanged
        assert added == 0
    else:
        fresh(url)
        with session_scope(source) as s:  # read beforehand: the baseline only writes
            rows = {t.name: [dict(r._mapping) for r in s.execute(select(t))] for t in TABLES}
        began, cpu = time.perf_counter(), time.process_time()
        with get_engine(url).begin() as conn:
            for table in TABLES:
                if rows[table.name]:
                    conn.execute(insert(table), rows[table.name])
        result["seconds"] = time.perf_counter() - began
        result["cpu"] = time.process_time() - cpu
        assert counts(url) == (events, deadlines)
    dispose_engines()
    result["rss_mb"] = peak_rss_mb()
    return result


def profile(url: str, feed: Path, top: int = 30) -> None:
    fresh(url)
    data = feed.read_bytes()
    prof = cProfile.Profile()
    prof.enable()
    _import(url, data, feed.name)
    prof.disable()
    stats = pstats.Stats(prof, stream=sys.stdout).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--deadlines", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db-url", default=None, help="PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--profile", action="store_true", help="cProfile one import instead")
    parser.add_argument("--whole", action="store_true",
                        help="also parse the file in one piece (icalendar's tree of all of it)")
    parser.add_argument("--child", choices=["import", "bare", "parse", "whole"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--feed", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--source", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import json

        print(json.dumps(one(args.child, args.db_url, Path(args.feed), args.source,
                             args.events, args.deadlines)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        feed, source = make_feed(folder, args.events, args.deadlines)
        if args.profile:
            profile(args.db_url or f"sqlite:///{folder / 'profile.db'}", feed)
            return
        results: dict[str, list[dict[str, float]]] = {"import": [], "bare": [], "parse": []}
        if args.whole:
            results["whole"] = []
        again: list[float] = []
        for run in range(args.runs):
            for path in results:
                url = args.db_url or f"sqlite:///{folder / f'{path}-{run}.db'}"
                got = run_child("bench.ics_import_bench", "--child", path, "--db-url", url,
                                "--feed", str(feed), "--source", source,
                                "--events", str(args.events), "--deadlines", str(args.deadlines))
                results[path].append(got)
                if path == "import":
                    again.append(got["again"])
        size = feed.stat().st_size
    med = medians(results)
    cpu = {p: statistics.median(r["cpu"] for r in rs) for p, rs in results.items()}
    again.sort()
    where = "PostgreSQL" if args.db_url else "SQLite file"
    print(f"import ics of {args.events:,} events + {args.deadlines:,} deadlines "
          f"({size / 1e6:.1f} MB, made by publish) on {where}, medians of {args.runs}:")
    print(f"  import_ics (parse, check, insert, commit) {med['import'][0]:7.2f} s  "
          f"peak RSS {med['import'][1]:6.0f} MB")
    print(f"    parse_ics alone, in pieces            {med['parse'][0]:7.2f} s  "
          f"peak RSS {med['parse'][1]:6.0f} MB")
    if args.whole:
        print(f"    parse_ics in one piece (--whole)        {med['whole'][0]:7.2f} s  "
              f"peak RSS {med['whole'][1]:6.0f} MB  (pieces/whole "
              f"{med['parse'][0] / med['whole'][0]:.2f})")
    print(f"  the same file again (all unchanged)       {again[len(again) // 2]:7.2f} s")
    print(f"  bare bulk INSERT of the same rows         {med['bare'][0]:7.2f} s  "
          f"peak RSS {med['bare'][1]:6.0f} MB")
    print(f"  ratio import/bare {med['import'][0] / med['bare'][0]:.2f}, "
          f"parse/bare {med['parse'][0] / med['bare'][0]:.2f}")
    print("  CPU seconds of this process (steadier than wall time on a shared machine): "
          + ", ".join(f"{p} {c:.2f}" for p, c in cpu.items()))


if __name__ == "__main__":
    main()
