"""Member import: `import_members` of a 100,000-row CSV vs a bare bulk INSERT of the same rows.

    .venv/bin/python -m bench.member_import_bench [--rows 100000] [--runs 3] [--db-url URL]

Real path: what `tracker member import members.csv` does after reading the file: parse and
check every row (`parse_member_csv`), look up existing e-mails, insert the new members (two
fresh tokens each) and commit, in one transaction, on a fresh database. Baseline, in the same
run: one Core `INSERT` executemany of the same 100,000 rows, already checked and with tokens
made beforehand, in one transaction on another fresh database. Each measurement runs in its
own child process, so its peak RSS (the child's high-water mark, VmHWM, including the
interpreter and imports) belongs to that path alone. Medians of
`--runs`; the ratio real/baseline is the figure to watch (goal <= 3).

`--db-url` runs both on PostgreSQL instead of SQLite files: a database URL whose `members`
table may be emptied (e.g. a scratch database migrated by `tracker init`).
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
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, insert, select  # noqa: E402

from tracker.db.engine import dispose_engines, get_engine, migrate, session_scope  # noqa: E402
from tracker.records.checks import new_token  # noqa: E402
from tracker.records.members import import_members  # noqa: E402
from tracker.records.models import Member  # noqa: E402

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
ZONES = ["Europe/Vienna", "Africa/Lagos", "Asia/Karachi", "America/Halifax", "Asia/Tokyo"]
SERIES = ["untoc-cop", "ccpcj", "", "crime-congress"]
REMIND = '"7d,1d"'  # quoted: the offsets' comma is inside the cell


def write_csv(path: Path, rows: int) -> None:
    lines = ["email,name,organisation,tz,series,remind"]
    for i in range(rows):
        lines.append(f"m{i:06d}@example.net,Member {i},NGO {i % 700},{ZONES[i % len(ZONES)]},"
                     f"{SERIES[i % len(SERIES)]},{REMIND if i % 3 == 0 else ''}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def bare_rows(rows: int) -> list[dict[str, object]]:
    """The rows the real path stores, as plain dicts (no parsing, no checks)."""
    return [{"email": f"m{i:06d}@example.net", "name": f"Member {i}",
             "organisation": f"NGO {i % 700}", "tz": ZONES[i % len(ZONES)],
             "series": [SERIES[i % len(SERIES)]] if SERIES[i % len(SERIES)] else [],
             "kinds": [], "remind": "7d,1d" if i % 3 == 0 else None, "active": True,
             "feed_token": new_token(), "unsubscribe_token": new_token(),
             "created_at": NOW, "modified_at": NOW} for i in range(rows)]


def fresh(url: str) -> None:
    migrate(url)
    with session_scope(url) as s:
        s.execute(delete(Member))


def count(url: str) -> int:
    with session_scope(url) as s:
        return int(s.scalar(select(func.count()).select_from(Member)) or 0)


def one(path: str, url: str, csv: Path, rows: int) -> dict[str, float]:
    """Child process: one measurement; returns seconds and peak RSS in MB."""
    fresh(url)
    if path == "import":
        text = csv.read_text(encoding="utf-8")
        began = time.perf_counter()
        with session_scope(url) as s:
            report = import_members(s, text, default_tz="Europe/Vienna", now=NOW)
        took = time.perf_counter() - began
        assert report.added == rows, report
    else:
        began = time.perf_counter()
        data = bare_rows(rows)  # making the tokens is part of any insert of members
        with get_engine(url).begin() as conn:
            conn.execute(insert(Member.__table__), data)
        took = time.perf_counter() - began
    assert count(url) == rows
    dispose_engines()
    return {"seconds": took, "rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's high-water mark (interpreter and imports included), in MB.

    VmHWM of /proc/self/status where there is one: Linux carries the parent's high-water mark
    over fork and exec into `ru_maxrss`, so a child of a big parent would report the parent's.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) / 1024


def run_child(module: str, *args: str) -> dict[str, float]:
    """Run `python -m module --child ...` and return the JSON its last line prints, so each
    measurement has a process (and a peak RSS) of its own."""
    out = subprocess.run([sys.executable, "-m", module, *args], check=True,
                         capture_output=True, text=True,
                         cwd=str(Path(__file__).resolve().parent.parent))
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def medians(results: dict[str, list[dict[str, float]]]) -> dict[str, tuple[float, float]]:
    """(median seconds, median peak RSS MB) per path."""
    return {p: (statistics.median(r["seconds"] for r in rs),
                statistics.median(r["rss_mb"] for r in rs)) for p, rs in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db-url", default=None, help="PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--child", choices=["import", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.db_url, Path(args.csv), args.rows)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = folder / "members.csv"
        write_csv(csv, args.rows)
        results: dict[str, list[dict[str, float]]] = {"import": [], "bare": []}
        for run in range(args.runs):
            for path in ("import", "bare"):
                url = args.db_url or f"sqlite:///{folder / f'{path}-{run}.db'}"
                results[path].append(run_child(
                    "bench.member_import_bench", "--child", path, "--db-url", url,
                    "--csv", str(csv), "--rows", str(args.rows)))
    med = medians(results)
    where = "PostgreSQL" if args.db_url else "SQLite file"
    print(f"member import of {args.rows:,} CSV rows on {where}, medians of {args.runs}:")
    print(f"  import_members (parse, check, insert, commit) {med['import'][0]:7.2f} s  "
          f"peak RSS {med['import'][1]:6.0f} MB")
    print(f"  bare bulk INSERT of the same rows             {med['bare'][0]:7.2f} s  "
          f"peak RSS {med['bare'][1]:6.0f} MB")
    print(f"  ratio import/bare {med['import'][0] / med['bare'][0]:.2f} (goal <= 3)")


if __name__ == "__main__":
    main()
