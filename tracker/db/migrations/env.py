"""Alembic environment: runs on the connection tracker.db.engine hands over (or the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

# Every table joins Base.metadata when its module is imported; autogenerate needs them all.
import tracker.feeds.cache  # noqa: F401
import tracker.records.models  # noqa: F401
import tracker.reminders.tables  # noqa: F401
from tracker.db.base import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:  # tracker.db.engine.alembic_config always sets it
        raise RuntimeError("alembic: neither a connection nor sqlalchemy.url was given")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
