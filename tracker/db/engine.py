"""Engines, sessions and schema migrations (Alembic)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from tracker.errors import OperationalError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


_ENGINES: dict[tuple[str, float | None], Engine] = {}
BUSY_SECONDS = 30.0  # how long the CLI and the scheduler wait for another writer's lock


def get_engine(url: str, busy_seconds: float | None = None) -> Engine:
    """One engine per URL (and lock wait) per process; pooled connections are reused.

    `busy_seconds` bounds how long a statement waits for another transaction's lock (SQLite's
    busy timeout; PostgreSQL's lock_timeout, with a statement_timeout of four times it): the
    web server asks for a short wait so a busy database is a quick 503, not a stalled request.
    """
    key = (url, busy_seconds)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = _create_engine(url, busy_seconds)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and processes that fork)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def _create_engine(url: str, busy_seconds: float | None = None) -> Engine:
    """SQLite gets foreign keys, WAL and a busy timeout; PostgreSQL a liveness check."""
    if url.startswith("sqlite"):
        busy = BUSY_SECONDS if busy_seconds is None else busy_seconds
        engine = create_engine(url, connect_args={"timeout": busy})

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
    if busy_seconds is None:
        return create_engine(url, pool_pre_ping=True)
    ms = max(1, int(busy_seconds * 1000))
    options = f"-c lock_timeout={ms} -c statement_timeout={4 * ms}"
    return create_engine(url, pool_pre_ping=True, connect_args={"options": options})


@contextmanager
def session_scope(url: str, busy_seconds: float | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    maker = sessionmaker(get_engine(url, busy_seconds), expire_on_commit=False)
    try:
        with maker.begin() as session:
            yield session
    except SAOperationalError as exc:
        raise OperationalError("database", f"cannot use {_redact(url)}: {_first_line(exc)}") from exc


def alembic_config(url: str) -> AlembicConfig:
    # Imported here, not at start-up (about 0.2 s): most commands never migrate.
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "heads") -> None:
    """Create or upgrade the schema; harmless when it is already at `revision`."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    try:
        with get_engine(url).begin() as connection:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    except SAOperationalError as exc:
        raise OperationalError("database", f"cannot use {_redact(url)}: {_first_line(exc)}") from exc


class NoSchema(OperationalError):
    """A database `tracker init` never set up: say so instead of 'no such table'."""


def require_schema(url: str) -> None:
    """Refuse a database without our schema, without creating a SQLite file on the way.

    Connecting to a missing SQLite file creates it (and a stray `tracker.db` in whatever folder
    a command ran in); so the file is looked for first, then the Alembic version table."""
    hint = "run `tracker init` (or give --config / --db for the database you meant)"
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url[len("sqlite:///"):])
        if not path.is_file():
            raise NoSchema("database", f"no database at {path}; {hint}")
    from sqlalchemy import inspect

    try:
        with get_engine(url).connect() as connection:
            found = inspect(connection).has_table("alembic_version")
    except SAOperationalError as exc:
        raise OperationalError("database", f"cannot use {_redact(url)}: {_first_line(exc)}") from exc
    if not found:
        raise NoSchema("database", f"{_redact(url)} has no schema; {hint}")


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


# PostgreSQL advisory lock keys: one job of each kind at a time across scheduler machines.
SYNC_LOCK = 4711005  # planning the outbox (tracker.reminders.sync)
PUBLISH_LOCK = 4711006  # rendering and writing the public feeds (tracker.scheduler.round)


def transaction_lock(session: Session, key: int, *, wait: bool = False) -> bool:
    """Hold advisory lock `key` until the transaction ends; False when another holds it and
    `wait` is off. SQLite needs none: one file on one machine, its writers serialised already."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                {"key": key}).scalar())
