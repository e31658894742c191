"""A scheduler round at scale: 100,000 members, 50,000 deadlines, 1,000 reminders due.

    .venv/bin/python -m bench.round_bench [--full] [--members N] [--deadlines N] [--due 1000]
                                          [--runs 3] [--db-url URL] [--explain] [--batch 500]

The database is built with bulk Core INSERTs (members follow one of 100 series each; one
deadline, followed by `--due` members, has a "2h" reminder that is due at the measured
moment; the other deadlines are spread over the year after, the nearest 15.5 days ahead, so
their first reminders fall inside the 2-day horizon and are planned as pending rows that are
not due yet). A first sync, a minute before, plans the database as
the scheduler would (its time and peak RSS are reported; it must not plan members x
deadlines). Then, in a fresh child process per run:

- real: one round (`run_round`: sync, which finds nothing changed; claim; render; write the
  1,000 messages to an outbox folder; mark each sent), the rows put back to pending after;
- baseline, same child: a bare indexed SELECT of those 1,000 due rows (DB-API cursor);
- small: the same round on a database that holds only the due deadline and its followers,
  so the ratio round(large)/round(small) shows whether the round grows with the database.

Each child's peak RSS (`ru_maxrss` of RUSAGE_SELF) is its own. Default size: 10,000 members
and 5,000 deadlines (about a minute); `--full` is the issue's 100,000 x 50,000.
`--batch` is the rows claimed at a time (500; the scheduler's `[mail] batch_size` is 100):
with `--due 20000 --batch 100` the round is a scheduler catching up on a backlog, one claim per
100 rows. `--explain` prints the query plan of the claim's SELECT as it was sent to the database
(EXPLAIN QUERY PLAN on SQLite; EXPLAIN ANALYZE in a rolled-back transaction on PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, event, func, insert, select, update  # noqa: E402

from bench.stores import fresh_store, store_name  # noqa: E402
from tests.helpers.remind_data import make_config  # noqa: E402
from tracker.db.engine import dispose_engines, get_engine, session_scope  # noqa: E402
from tracker.records.models import Deadline, Member  # noqa: E402
from tracker.reminders import outbox  # noqa: E402
from tracker.reminders.tables import OUTBOX, OutboxRow  # noqa: E402
from tracker.scheduler.round import run_round  # noqa: E402

AT = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # the measured round
ZONES = ["Europe/Vienna", "Africa/Lagos", "Asia/Karachi", "America/Halifax", "America/New_York",
         "Asia/Tokyo"]
SERIES = 100
DUE_ID = "due-now"
BATCH = 5000


def _members(count: int, due: int) -> Iterator[list[dict[str, object]]]:
    """Members in batches; the first `due` follow series s000 (the due deadline's)."""
    rows: list[dict[str, object]] = []
    for i in range(count):
        series = "s000" if i < due else f"s{1 + i % (SERIES - 1):03d}"
        rows.append({"email": f"m{i:06d}@example.net", "name": f"Member {i}",
                     "organisation": f"NGO {i % 700}", "tz": ZONES[i % len(ZONES)],
                     "series": [series], "kinds": [], "remind": None, "active": True,
                     "mail": True, "feed_token": f"f{i:06d}-{'x' * 24}",
                     "unsubscribe_token": f"u{i:06d}-{'y' * 24}",
                     "created_at": AT - timedelta(days=30), "modified_at": AT - timedelta(days=30)})
        if len(rows) == BATCH:
            yield rows
            rows = []
    if rows:
        yield rows


def _deadline(i: int, due: datetime, series: str, remind: str | None) -> dict[str, object]:
    ident = DUE_ID if i == 0 else f"d{i:06d}"
    return {"id": ident, "uid": f"deadline-{ident}@tracker.example.org",
            "title": f"Register for session {i}", "event_id": None, "kind": "registration",
            "series": [series], "tz": "Europe/Vienna", "due_utc": due, "due_date": None,
            "opens_utc": None, "opens_date": None, "first_due_utc": due, "first_due_date": None,
            "instructions": "Register every participant.",
            "url": "https://indico.un.org/event/1/", "email": "", "location": "VIC",
            "status": "open", "visibility": "public", "remind": remind, "sequence": 0,
            "created_at": AT - timedelta(days=30), "modified_at": AT - timedelta(days=30),
            "cancelled_at": None}


def _deadlines(count: int) -> Iterator[list[dict[str, object]]]:
    """Deadline 0 is due in 2 h with a "2h" reminder (due now); the others are spread over the
    year from 15.5 days ahead (their 14-day reminders fall tomorrow or later in every zone,
    inside the 2-day horizon for the first ones), each in one series other than s000."""
    rows = [_deadline(0, AT + timedelta(hours=2), "s000", "2h")]
    first, spread = AT + timedelta(days=15, hours=12), timedelta(days=365)
    for i in range(1, count):
        rows.append(_deadline(i, first + spread * i / count, f"s{1 + i % (SERIES - 1):03d}", None))
        if len(rows) == BATCH:
            yield rows
            rows = []
    if rows:
        yield rows


def build(url: str, members: int, deadlines: int, due: int) -> None:
    engine = get_engine(url)
    with engine.begin() as conn:
        for rows in _members(members, due):
            conn.execute(insert(Member.__table__), rows)
        for rows in _deadlines(deadlines):
            conn.execute(insert(Deadline.__table__), rows)


def first_sync(url: str, folder: Path) -> dict[str, float]:
    config = make_config(folder, url)
    began = time.perf_counter()
    with session_scope(url) as s:
        report = outbox.sync(s, config, AT - timedelta(minutes=1))
    took = time.perf_counter() - began
    with session_scope(url) as s:
        rows = int(s.scalar(select(func.count()).select_from(OutboxRow)) or 0)
    return {"seconds": took, "rows": rows, "deadlines": report.deadlines,
            "members": report.members, "rss_mb": _peak_mb()}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reset(url: str) -> None:
    """Put the due deadline's rows back to pending, as before the round (not timed)."""
    with session_scope(url) as s:
        s.execute(update(OUTBOX).where(OUTBOX.c.deadline_id == DUE_ID).values(
            state="pending", attempts=0, sent_at=None, lease_owner=None, lease_until=None,
            last_error=None, next_attempt_at=OUTBOX.c.due_at))


@contextmanager
def _capture(engine: Engine, into: list[tuple[str, Any]]) -> Iterator[None]:
    """Record the claim's SELECT exactly as the driver got it (statement and parameters)."""
    def before(conn: object, cursor: object, statement: str, parameters: Any, context: object,
               executemany: bool) -> None:
        if not into and statement.lstrip().startswith("SELECT reminders.id, reminders.kind"):
            into.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)


def bare_select(url: str, due: int) -> float:
    """The floor: the due rows by the (state, next_attempt_at) index, through a DB-API cursor."""
    engine = get_engine(url)
    pg = engine.dialect.name == "postgresql"
    mark = "%s" if pg else "?"
    sql = ("SELECT id, member_id, deadline_id, slot, message_id FROM reminders "
           f"WHERE state = {mark} AND next_attempt_at <= {mark} "
           f"ORDER BY next_attempt_at, id LIMIT {mark}")
    at: object = AT if pg else AT.strftime("%Y-%m-%d %H:%M:%S.%f")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        began = time.perf_counter()
        cur.execute(sql, ("pending", at, due))
        rows = cur.fetchall()
        took = time.perf_counter() - began
        raw.rollback()
    finally:
        raw.close()
    assert len(rows) == due, len(rows)
    return took


def explain(url: str, statement: str, parameters: Any) -> str:
    engine = get_engine(url)
    pg = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if pg else "EXPLAIN QUERY PLAN "
        cur.execute(prefix + statement, parameters)
        lines = [str(r[0]) if pg else f"{'  ' * int(r[1] > 0)}{r[3]}" for r in cur.fetchall()]
        raw.rollback()  # ANALYZE ran the FOR UPDATE: give its locks back
    finally:
        raw.close()
    return statement + "\n" + "\n".join(lines)


def one_round(url: str, folder: Path, due: int, want_explain: bool,
              batch: int) -> dict[str, Any]:
    """Child process: reset, one real round, then the bare SELECT; times and peak RSS."""
    _reset(url)
    config = make_config(folder, url)
    captured: list[tuple[str, Any]] = []
    engine = get_engine(url)
    with _capture(engine, captured):
        began = time.perf_counter()
        report = run_round(config, lambda: AT, "bench", batch=batch)
        took = time.perf_counter() - began
    assert report.sent == due and not report.sync, (report.sent, report.sync)
    rss = _peak_mb()
    _reset(url)
    began = time.perf_counter()  # the round's first step alone: an idle sync at that moment
    with session_scope(url) as s:
        assert not outbox.sync(s, config, AT)
    idle = time.perf_counter() - began
    bare = statistics.median(bare_select(url, due) for _ in range(3))
    out: dict[str, Any] = {"seconds": took, "bare": bare, "rss_mb": rss, "idle_sync": idle}
    if want_explain and captured:
        out["explain"] = explain(url, *captured[0])
    dispose_engines()
    return out


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.round_bench", "--child", *args],
                         capture_output=True, text=True,
                         cwd=str(Path(__file__).resolve().parent.parent))
    if out.returncode:
        sys.exit(f"the {args[0]} child failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def child(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    if args.child == "sync":
        print(json.dumps(first_sync(args.url, folder)))
    else:
        print(json.dumps(one_round(args.url, folder, args.due, args.explain, args.batch)))


@contextmanager
def planned_store(folder: Path, server: str | None, name: str, members: int, deadlines: int,
                  due: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """A database built and synced once (the first sync in its own child, for its RSS)."""
    with fresh_store(folder, server, name) as url:
        began = time.perf_counter()
        build(url, members, deadlines, due)
        built = time.perf_counter() - began
        dispose_engines()
        synced = run_child("sync", "--url", url, "--folder", str(folder))
        synced["build_seconds"] = built
        yield url, synced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100,000 members, 50,000 deadlines")
    parser.add_argument("--members", type=int, default=None)
    parser.add_argument("--deadlines", type=int, default=None)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="rows claimed at a time")
    parser.add_argument("--db-url", default=None,
                        help="a PostgreSQL server URL to make scratch databases on "
                             "(default: SQLite files)")
    parser.add_argument("--explain", action="store_true", help="print the claim's query plan")
    parser.add_argument("--child", choices=["sync", "round"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    members = args.members or (100_000 if args.full else 10_000)
    deadlines = args.deadlines or (50_000 if args.full else 5_000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with planned_store(folder, args.db_url, "round", members, deadlines, args.due) as (
                url, synced), \
                planned_store(folder, args.db_url, "small", args.due, 1, args.due) as (
                small, _):
            rounds: list[dict[str, Any]] = []
            smalls: list[dict[str, Any]] = []
            for run in range(args.runs):
                common = ["--folder", str(folder), "--due", str(args.due),
                          "--batch", str(args.batch)]
                rounds.append(run_child("round", "--url", url, *common,
                                        *(["--explain"] if args.explain and run == 0 else [])))
                smalls.append(run_child("round", "--url", small, *common))
                print(f"  run {run + 1}: round {rounds[-1]['seconds'] * 1000:7.0f} ms, bare "
                      f"SELECT {rounds[-1]['bare'] * 1000:6.2f} ms, small round "
                      f"{smalls[-1]['seconds'] * 1000:7.0f} ms", flush=True)
    med = {k: statistics.median(r[k] for r in rounds)
           for k in ("seconds", "bare", "rss_mb", "idle_sync")}
    small_s = statistics.median(r["seconds"] for r in smalls)
    small_rss = statistics.median(r["rss_mb"] for r in smalls)
    print(f"scheduler round, {members:,} members x {deadlines:,} deadlines, {args.due:,} due, "
          f"claimed {args.batch:,} at a time, {store_name(args.db_url)}, medians of {args.runs} "
          "runs:")
    print(f"  build (bulk INSERT) {synced['build_seconds']:.1f} s; first sync "
          f"{synced['seconds']:.1f} s, {synced['rows']:,} rows inside the horizon, "
          f"{synced['deadlines']:,} deadlines and {synced['members']:,} members looked at, "
          f"peak RSS {synced['rss_mb']:.0f} MB")
    print(f"  round (sync+claim+render+outbox+mark)  {med['seconds'] * 1000:8.0f} ms  "
          f"peak RSS {med['rss_mb']:5.0f} MB")
    print(f"  of which its sync (idle: nothing changed), timed alone "
          f"{med['idle_sync'] * 1000:8.1f} ms")
    print(f"  bare indexed SELECT of the {args.due:,} due rows {med['bare'] * 1000:8.2f} ms  "
          f"ratio round/SELECT {med['seconds'] / med['bare']:.0f}")
    print(f"  the same round, database of the due deadline and its {args.due:,} followers only "
          f"{small_s * 1000:8.0f} ms  peak RSS {small_rss:5.0f} MB  ratio large/small "
          f"{med['seconds'] / small_s:.2f}")
    if args.explain and "explain" in rounds[0]:
        print("claim query plan:\n" + rounds[0]["explain"])


if __name__ == "__main__":
    main()
