"""A consistent copy of a live SQLite database, through SQLite's online backup API.

The scheduler may be writing while the copy runs: the backup API copies pages and restarts
when another connection writes, so the file it leaves is one consistent state (WAL included).
PostgreSQL has its own tool for that (pg_dump), which this does not try to replace.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from tracker.errors import OperationalError, TrackerError


def sqlite_path(url: str) -> Path:
    """The file behind a sqlite:/// URL; other databases are refused with what to use."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise TrackerError("database", f"is {parsed.get_backend_name()}; back it up with its own "
                           "tool (pg_dump for PostgreSQL), e.g. pg_dump -Fc tracker > tracker.dump")
    if not parsed.database or parsed.database == ":memory:":
        raise TrackerError("database", "is an in-memory SQLite database; there is nothing to copy")
    return Path(parsed.database)


def backup_sqlite(url: str, target: Path, pages: int = 1024) -> int:
    """Copy the database at `url` into `target` (a new file); returns the bytes written."""
    source = sqlite_path(url)
    if not source.is_file():
        raise TrackerError("database", f"{source} does not exist; run `tracker init` first")
    if target.exists():
        raise TrackerError("FILE", f"{target} exists; give a new file name (nothing overwritten)")
    partial = target.with_name(f".{target.name}.partial")
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst, pages=pages)
            finally:
                dst.close()
        finally:
            src.close()
        partial.replace(target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise OperationalError("database", f"backup failed: {exc}") from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise TrackerError("FILE", f"cannot write {target}: {exc.strerror}") from None
    return target.stat().st_size
