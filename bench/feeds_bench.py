"""Publish benchmark: cold (empty per-item cache) vs warm (one item edited) vs no change.

Run: .venv/bin/python -m bench.feeds_bench [--events N] [--deadlines N] [--runs N]
(defaults 5,000 events + 10,000 deadlines, 3 runs: about a minute; the UN-wide scale,
--events 10000 --deadlines 20000, takes about two and a half).

Each scenario runs `tracker.publish.publish` on a real SQLite file; figures are medians of
--runs runs, with ratios against the cold publish measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, update

from tracker.config import build_config
from tracker.db.engine import migrate, session_scope
from tracker.feeds.cache import FeedCacheEntry
from tracker.records.models import Deadline, Event
from tracker.scheduler.round import publish

ZONES = ["Europe/Vienna", "America/New_York", "America/Halifax", "Asia/Tokyo", "Africa/Lagos",
         "Asia/Karachi", "America/Mexico_City"]
TAGS = ["ccpcj", "untoc-cop", "ahc", "cd", "congress", "informal", "side-event", "csw", "cnd"]
NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)


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


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--deadlines", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate(url)
        fill(url, args.events, args.deadlines)
        config = build_config({"tracker": {"database": url}}, base_dir=Path(tmp))
        out = Path(tmp) / "calendars"
        cold, warm, same = [], [], []
        for run in range(args.runs):
            with session_scope(url) as s:
                s.execute(delete(FeedCacheEntry))
            for f in out.glob("*.ics"):
                f.unlink()
            cold.append(timed(lambda: publish(config, NOW, out)))
            with session_scope(url) as s:  # the secretary edits one event
                s.execute(update(Event).where(Event.id == "e1").values(
                    title=f"Session 1 moved ({run})", sequence=run + 1,
                    modified_at=NOW + timedelta(minutes=run + 1)))
            warm.append(timed(lambda: publish(config, NOW, out)))
            same.append(timed(lambda: publish(config, NOW, out)))
        size = sum(f.stat().st_size for f in out.glob("*.ics"))
    items = args.events + args.deadlines
    c, w, n = (statistics.median(x) for x in (cold, warm, same))
    print(f"publish of {args.events:,} events + {args.deadlines:,} deadlines "
          f"({items:,} items, {size / 1e6:.1f} MB of feeds), median of {args.runs} runs:")
    print(f"  cold (empty cache, all files new)  {c:7.2f} s   1.00x   {items / c:8.0f} items/s")
    print(f"  warm (cache, one item edited)      {w:7.2f} s   {c / w:5.1f}x faster")
    print(f"  no change (nothing written)        {n:7.2f} s   {c / n:5.1f}x faster")


if __name__ == "__main__":
    main()
