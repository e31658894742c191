"""Engines, sessions and schema migrations (Alembic)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from tracker.errors import OperationalError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str) -> Engine:
    """One engine per URL per process (pooled connections are reused across sessions)."""
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = _create_engine(url)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and processes that fork)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def _create_engine(url: str) -> Engine:
    """SQLite gets foreign keys, WAL and a busy timeout; PostgreSQL a liveness check."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a crash of the process (kill -9), and is only
            # at risk on power loss, where a "sent" mark lost means a resend with the same
            # Message-ID; FULL would fsync on every per-message commit.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    maker = sessionmaker(get_engine(url), expire_on_commit=False)
    try:
        with maker.begin() as session:
            yield session
    except SAOperationalError as exc:
        raise OperationalError("database", f"cannot use {_redact(url)}: {_first_line(exc)}") from exc


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "heads") -> None:
    """Create or upgrade the schema; harmless when it is already at `revision`."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        with get_engine(url).begin() as connection:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    except SAOperationalError as exc:
        raise OperationalError("database", f"cannot use {_redact(url)}: {_first_line(exc)}") from exc


def current_revision(url: str) -> str:
    """The schema revision(s) the database is at, e.g. '0004_merge' ('none' when empty)."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return "+".join(sorted(heads)) or "none"


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database"


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", exc)
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
