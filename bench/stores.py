"""Where a benchmark's database lives: a fresh SQLite file, or a scratch PostgreSQL database.

`--db-url` names a PostgreSQL server (any database on it that may create others, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test); the bench creates its own database there
for each measurement and drops it afterwards, so nothing else on that server is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.pg import scratch_database
from tracker.db.engine import dispose_engines, migrate


@contextmanager
def fresh_store(folder: Path, server_url: str | None, name: str = "bench") -> Iterator[str]:
    """A migrated, empty database URL: `folder/name.db`, or a scratch database on `server_url`."""
    if server_url is None:
        url = f"sqlite:///{folder / name}.db"
        migrate(url)
        try:
            yield url
        finally:
            dispose_engines()
        return
    with scratch_database(server_url, f"tracker_{name}") as url:
        migrate(url)
        yield url


def store_name(server_url: str | None) -> str:
    return "PostgreSQL" if server_url else "SQLite file"
