"""Private feed benchmark: GET /feeds/<token>.ics over real HTTP, cached bodies vs the old path.

Run: .venv/bin/python -m bench.private_feed_bench [--events N] [--deadlines N] [--runs N]
(defaults 10,000 events + 20,000 deadlines, every tenth event members-only, 3 runs: about four
minutes, most of it the baseline's requests and the publishes that fill the VEVENT cache table).

Each server is `tracker.serve.create_app` under uvicorn in its own process on a loopback port
(the same data, the clock fixed at NOW). Publishing fills the per-item cache with every item
members may see (public and members-only), so a new server's first request concatenates cached
fragments. "cache filled by publish": a fresh server's first request with nothing changed since
the last publish (the server reads the table as it is). "one item changed since": the first
request of a server started after an event (so also its deadlines) changed and before the next
publish (the database compares each row's key with its entry's; the server renders the changed
rows itself). "baseline" is the request path before the cache:
`tracker.feeds.private.member_feed` (every item loaded through the ORM, the in-process VEVENT
cache warm) with the sha256 ETag of the whole bytes, as serve.py did. Figures are medians over
--runs fresh servers (5 warm requests each for the cached server, 1 for the slow baseline),
timed by the client (connect, request, read the whole body); ratios are baseline / cached.
The bodies of both servers are compared byte for byte.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict, TypeVar

from sqlalchemy import update

from bench.feeds_bench import NOW, fill
from tracker.config import Config, build_config
from tracker.db.engine import migrate, session_scope
from tracker.records.models import Event, Member
from tracker.scheduler.round import publish

if TYPE_CHECKING:  # the servers import starlette in their own process only
    from starlette.applications import Starlette

T = TypeVar("T")

MEMBERS = {  # token -> series followed (empty: every series)
    "bench-all-" + "a" * 22: [],
    "bench-csw-" + "b" * 22: ["csw"],
    "bench-two-" + "c" * 22: ["ccpcj", "cd"],
}
ALL, CSW, TWO = MEMBERS


def add_members(url: str) -> None:
    with session_scope(url) as s:
        for i, (token, series) in enumerate(MEMBERS.items()):
            s.add(Member(email=f"m{i}@bench.example", name=f"Member {i}", tz="Europe/Vienna",
                         series=series, kinds=[], active=True, feed_token=token,
                         unsubscribe_token=f"unsub-{i}-" + "u" * 24, created_at=NOW,
                         modified_at=NOW))
        s.execute(update(Event).where(Event.id.like("e%0")).values(visibility="members"))


def bench_config(url: str, folder: Path) -> Config:
    return build_config({"tracker": {"database": url}}, base_dir=folder)


# --- the servers (run in a child process: python -m bench.private_feed_bench --serve ...) ----


def baseline_app(config: Config) -> Starlette:
    """The handler as it was: member_feed() per request over a warm in-process VEVENT cache."""
    import hashlib

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from tracker.db.engine import session_scope
    from tracker.feeds import cache as feedcache
    from tracker.feeds.private import member_feed
    from tracker.feeds.render import FeedSettings, VeventCache

    settings = FeedSettings.from_config(config)
    with session_scope(config.database_url) as session:
        cache = VeventCache(feedcache.load(session))

    def private_feed(request: Request) -> Response:
        token = request.path_params["name"].removesuffix(".ics")
        with session_scope(config.database_url) as session:
            data = member_feed(session, settings, token, NOW, cache)
        if data is None:
            return PlainTextResponse("Not Found", status_code=404)
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(data, media_type="text/calendar; charset=utf-8", headers={"ETag": etag})

    return Starlette(routes=[Route("/feeds/{name}", private_feed)])


def serve_child(kind: str, url: str, folder: Path, port: int) -> None:
    import uvicorn

    from tracker.web.app import create_app

    config = bench_config(url, folder)
    app = baseline_app(config) if kind == "baseline" else create_app(config, now_fn=lambda: NOW)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


class Server:
    def __init__(self, kind: str, url: str, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.private_feed_bench", "--serve", kind, "--db", url,
             "--folder", str(folder), "--port", str(self.port)])
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{kind} server did not start") from None
                time.sleep(0.05)

    def get(self, token: str, etag: str | None = None) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request("GET", f"/feeds/{token}.ics", headers={"If-None-Match": etag} if etag else {})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status not in (200, 304):
                raise SystemExit(f"unexpected HTTP {resp.status}")
            return resp.status, resp.getheader("ETag") or "", body
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def change_one_item(url: str, run: int) -> None:
    """The secretary retitles one event (its deadlines' descriptions change with it)."""
    with session_scope(url) as s:
        s.execute(update(Event).where(Event.id == "e7").values(
            title=f"Session 7 moved ({run})", sequence=run + 1,
            modified_at=NOW - timedelta(minutes=30 - run)))


Timing = Literal["cold", "cold_stale", "set_cold", "warm", "changed", "304"]
# Medians in seconds (the `Timing` keys), requests per second, the bodies by member token;
# written the functional way because "304" is not an identifier.
Measured = TypedDict("Measured", {
    "cold": float, "cold_stale": float, "set_cold": float, "warm": float, "changed": float,
    "304": float, "rps": float, "rps304": float, "bodies": dict[str, bytes]})


def first_request(kind: str, url: str, folder: Path) -> float:
    """A fresh server's first request for the all-series feed, in seconds."""
    server = Server(kind, url, folder)
    try:
        return timed(partial(server.get, ALL))[0]
    finally:
        server.stop()


def measure(kind: str, url: str, folder: Path, runs: int, repeats: int,
            rps_requests: int) -> Measured:
    """`runs` fresh servers; `repeats` warm and 304 requests each (the baseline's take seconds).

    Each run publishes first (the cache then holds every item as it is, as after `tracker
    publish` or a scheduler's round), and ends with one more fresh server started after an
    item changed and before the next publish (its first request renders that item itself)."""
    cold, cold_stale, set_cold, warm, changed, not_modified = [], [], [], [], [], []
    bodies: dict[str, bytes] = {}
    rps = rps304 = 0.0
    for run in range(runs):
        publish(bench_config(url, folder), NOW)
        server = Server(kind, url, folder)
        try:
            seconds, got = timed(partial(server.get, ALL))
            cold.append(seconds)
            seconds, _ = timed(partial(server.get, CSW))
            set_cold.append(seconds)
            for _ in range(repeats):
                seconds, got = timed(partial(server.get, ALL))
                warm.append(seconds)
            etag = got[1]
            for _ in range(repeats):
                seconds, _ = timed(partial(server.get, ALL, etag))
                not_modified.append(seconds)
            change_one_item(url, run)
            seconds, got = timed(partial(server.get, ALL))
            changed.append(seconds)
            if run < runs - 1:
                continue
            bodies[ALL] = got[2]
            bodies[TWO] = server.get(TWO)[2]
            start = time.perf_counter()
            for _ in range(rps_requests):
                status, etag, bodies[CSW] = server.get(CSW)
            rps = rps_requests / (time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(rps_requests):
                server.get(CSW, etag)
            rps304 = rps_requests / (time.perf_counter() - start)
        finally:
            server.stop()
        cold_stale.append(first_request(kind, url, folder))
    med = statistics.median
    return {"cold": med(cold), "cold_stale": med(cold_stale), "set_cold": med(set_cold),
            "warm": med(warm),
            "changed": med(changed), "304": med(not_modified), "rps": rps, "rps304": rps304,
            "bodies": bodies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--deadlines", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve", choices=["new", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_child(args.serve, args.db, Path(args.folder), args.port)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'bench.db'}"
        migrate(url)
        fill(url, args.events, args.deadlines)
        add_members(url)
        seconds, _ = timed(lambda: publish(bench_config(url, folder), NOW))
        print(f"data: {args.events:,} events + {args.deadlines:,} deadlines, one publish "
              f"to fill the VEVENT cache took {seconds:.0f} s")
        base = measure("baseline", url, folder, args.runs, repeats=1, rps_requests=3)
        new = measure("new", url, folder, args.runs, repeats=5, rps_requests=200)
    same = all(base["bodies"][t] == new["bodies"][t] for t in MEMBERS)
    sizes = ", ".join(f"{len(new['bodies'][t]) / 1e6:.1f} MB" for t in MEMBERS)
    print(f"private feed GET over HTTP (loopback), median of {args.runs} runs; bodies of "
          f"members all/csw/ccpcj+cd: {sizes}; identical to baseline: {same}")
    print(f"  {'':56} {'baseline':>10} {'cached':>10} {'ratio':>8}")
    rows: list[tuple[str, Timing]] = [
        ("first request after start, cache filled by publish (all)", "cold"),
        ("first request after start, one item changed since (all)", "cold_stale"),
        ("first request of another series set (csw)", "set_cold"),
        ("repeated request (all)", "warm"),
        ("repeated request, If-None-Match -> 304", "304"),
        ("request after one item changed (all)", "changed")]
    for label, key in rows:
        b, n = base[key], new[key]
        print(f"  {label:56} {b * 1000:8.1f}ms {n * 1000:8.1f}ms {b / n:7.1f}x")
    print(f"  requests/s, one client, csw feed: baseline {base['rps']:.2f} (3 requests, 304s "
          f"{base['rps304']:.2f}), cached {new['rps']:.0f} (200 requests, 304s "
          f"{new['rps304']:.0f})")
    if not same:
        raise SystemExit("the cached server's bodies differ from the baseline's")


if __name__ == "__main__":
    main()
