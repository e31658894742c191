"""Alembic environment: runs on the connection tracker.store hands over (or the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import tracker.feedcache  # noqa: F401  (the feed cache table joins Base.metadata)
import tracker.outbox_models  # noqa: F401  (the outbox tables join Base.metadata)
from tracker.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
