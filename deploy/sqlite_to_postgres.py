"""Copy every table of a tracker SQLite database into an empty, migrated PostgreSQL one.

    tracker --db postgresql+psycopg://tracker@db.example.org/tracker init    # schema, empty
    python deploy/sqlite_to_postgres.py sqlite:///tracker.db \\
        postgresql+psycopg://tracker@db.example.org/tracker

Both databases must be at the same Alembic revision (run `tracker init` on both with the same
tracker version). The copy reads and writes through the models' own tables with SQLAlchemy Core,
so every value goes through the same column types (aware UTC instants, JSON lists) as the
application uses; rows keep their ids, and PostgreSQL's id sequences are moved past them. It
runs in one PostgreSQL transaction: on any error nothing is written. Stop the schedulers and
`tracker serve` on the SQLite file first, so nothing changes during the copy.

Exit status: 0 copied, 2 refused (target not empty, revisions differ), 1 database error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout too

from sqlalchemy import Connection, Table, func, select, text  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

import tracker.feeds.cache  # noqa: E402,F401  (registers feed_cache, feed_generation)
import tracker.records.models  # noqa: E402,F401  (events, deadlines, members)
import tracker.reminders.tables  # noqa: E402,F401  (the outbox and its plans)
from tracker.db.base import Base  # noqa: E402
from tracker.db.engine import current_revision, get_engine  # noqa: E402

# Filled by the migrations themselves (a one-row counter the triggers bump): not copied.
OWN_ROWS = {"feed_generation"}
CHUNK = 5000


class Refused(Exception):
    """The target is not fit for the copy; the message says why."""


def copy(source_url: str, target_url: str) -> dict[str, int]:
    """Copy all tables; returns rows copied per table."""
    if source_url.startswith("sqlite:///") and not Path(source_url[10:]).is_file():
        raise Refused(f"no SQLite file at {source_url[10:]}")
    source_rev, target_rev = current_revision(source_url), current_revision(target_url)
    if source_rev == "none" or source_rev != target_rev:
        raise Refused(f"revisions differ: source {source_rev}, target {target_rev}; "
                      "run `tracker init` on both with the same version")
    tables = [t for t in Base.metadata.sorted_tables if t.name not in OWN_ROWS]  # parents first
    copied: dict[str, int] = {}
    with get_engine(source_url).connect() as src, get_engine(target_url).begin() as dst:
        for table in tables:
            if dst.scalar(select(func.count()).select_from(table)):
                raise Refused(f"table {table.name} of the target is not empty")
        for table in tables:
            copied[table.name] = _copy_table(src, dst, table)
        if dst.dialect.name == "postgresql":
            for table in tables:
                _move_sequence(dst, table)
    return copied


def _copy_table(src: Connection, dst: Connection, table: Table) -> int:
    result = src.execution_options(yield_per=CHUNK).execute(
        select(table).order_by(*table.primary_key.columns))
    done = 0
    for rows in result.mappings().partitions(CHUNK):
        dst.execute(table.insert(), [dict(r) for r in rows])
        done += len(rows)
    return done


def _move_sequence(dst: Connection, table: Table) -> None:
    """After explicit ids, the next generated id must come after the largest copied one."""
    for column in table.primary_key.columns:
        if column.autoincrement is True or (column.autoincrement == "auto"
                                            and column.type.python_type is int):
            seq = dst.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"),
                             {"t": table.name, "c": column.name})
            if seq is not None:
                dst.execute(text(f"SELECT setval(:s, COALESCE((SELECT MAX({column.name}) "
                                 f"FROM {table.name}), 0) + 1, false)"), {"s": seq})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the SQLite URL, e.g. sqlite:///tracker.db")
    parser.add_argument("target", help="the PostgreSQL URL (migrated by `tracker init`, empty)")
    args = parser.parse_args(argv)
    try:
        copied = copy(args.source, args.target)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"error: {str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}",
              file=sys.stderr)
        return 1
    for name, count in copied.items():
        print(f"{name}: {count} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
