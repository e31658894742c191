"""Where a benchmark's database lives: a fresh SQLite file, or a scratch PostgreSQL database.

`--db-url` names a PostgreSQL server (any database on it that may create others, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test); the bench creates its own database there
for each measurement and drops it afterwards, so nothing else on that server is touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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
    scratch = f"tracker_{name}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    url = make_url(server_url).set(database=scratch).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()


def store_name(server_url: str | None) -> str:
    return "PostgreSQL" if server_url else "SQLite file"
