"""Mail throughput: the real send path vs bare smtplib, through aiosmtpd on loopback.

    .venv/bin/python -m bench.mail_bench [--count 2000] [--runs 3] [--sync-members 2000]

Real path: outbox rows (sync) + claim + render (Jinja2, .ics) + send over one SMTP connection
per batch + mark each row sent, on a SQLite file. Baseline, in the same run: bare smtplib
re-sending the exact bytes the real path delivered (`sendmail`, nothing rendered or flattened)
over one connection. Medians of several runs;
the ratio real/baseline is the figure to watch (target >= 0.5). Also times `sync` for a larger
population.
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.remind_data import add_deadline_at, add_members, make_config  # noqa: E402
from tests.smtp_server import SmtpServer  # noqa: E402
from tracker import outbox  # noqa: E402
from tracker.delivery import run_round  # noqa: E402
from tracker.store import migrate, session_scope  # noqa: E402

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
SEND = datetime(2024, 10, 13, 14, 0, tzinfo=UTC)


def real_path(count: int, server: SmtpServer) -> tuple[float, list[tuple[str, list[str], bytes]]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate(url)
        add_members(url, NOW, count)
        add_deadline_at(url, NOW, "cop12-reg", "14 Oct 2024 noon")
        config = make_config(Path(tmp), url, backend="smtp", smtp_host="127.0.0.1",
                             smtp_port=server.port)
        before = server.count
        began = time.perf_counter()
        report = run_round(config, lambda: SEND, "bench", batch=500)
        took = time.perf_counter() - began
        assert report.sent == count and server.count - before == count, report
        with server.handler.lock:
            received = server.handler.received[before:]
    return count / took, received


def baseline(received: list[tuple[str, list[str], bytes]], server: SmtpServer) -> float:
    """The floor: the very bytes the real path delivered, re-sent with `sendmail` (no
    rendering, no flattening) over one connection to the same server."""
    before = server.count
    began = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", server.port) as conn:
        for sender, to, data in received:
            conn.sendmail(sender, to, data)
    rate = len(received) / (time.perf_counter() - began)
    assert server.count - before == len(received)
    return rate


def sync_timing(members: int, deadlines: int) -> tuple[float, float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/sync.db"
        migrate(url)
        add_members(url, NOW, members, series=["untoc-cop"])
        for i in range(deadlines):
            add_deadline_at(url, NOW, f"d{i}", (SEND + timedelta(days=1 + i % 30)).strftime(
                "%Y-%m-%dT12:00"), series=["untoc-cop" if i % 2 else "ccpcj"])
        config = make_config(Path(tmp), url)
        at = SEND - timedelta(days=10)
        began = time.perf_counter()
        with session_scope(url) as s:
            first = outbox.sync(s, config, at)
        t_first = time.perf_counter() - began
        began = time.perf_counter()
        with session_scope(url) as s:
            outbox.sync(s, config, at + timedelta(seconds=15))
        t_idle = time.perf_counter() - began
        began = time.perf_counter()
        with session_scope(url) as s:
            outbox.sync(s, config, at + timedelta(days=1))
        t_day = time.perf_counter() - began
        return t_first, t_idle, t_day, first.inserted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sync-members", type=int, default=2000)
    parser.add_argument("--sync-deadlines", type=int, default=200)
    args = parser.parse_args()
    server = SmtpServer().start()
    try:
        reals, bases = [], []
        for _ in range(args.runs):
            rate, received = real_path(args.count, server)
            reals.append(rate)
            bases.append(baseline(received, server))
            print(f"  run {len(reals)}: real {rate:6.0f} msg/s, baseline {bases[-1]:6.0f} msg/s,"
                  f" ratio {rate / bases[-1]:.2f}", flush=True)
    finally:
        server.stop()
    real, base = statistics.median(reals), statistics.median(bases)
    print(f"{args.count} reminders, median of {args.runs} runs")
    print(f"  real send path (rows+claim+render+send+mark): {real:8.0f} msg/s")
    print(f"  bare smtplib.sendmail, same bytes, one conn.:  {base:8.0f} msg/s")
    ratios = [r / b for r, b in zip(reals, bases, strict=True)]
    print(f"  ratio real/baseline: median of the per-run ratios {statistics.median(ratios):.2f}"
          f" (ratio of the medians {real / base:.2f}; target >= 0.5)")
    first, idle, day, rows = sync_timing(args.sync_members, args.sync_deadlines)
    print(f"sync, {args.sync_members} members x {args.sync_deadlines} deadlines (SQLite):")
    print(f"  first sync {first:.2f} s ({rows} rows inside the horizon); idle round {idle*1000:.1f} ms;"
          f" a day later {day:.2f} s")


if __name__ == "__main__":
    main()
