"""Shared fixtures: a real SQLite file upgraded by Alembic, PostgreSQL when it answers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers.cli import Cli
from tracker.config import Config, build_config
from tracker.db.engine import dispose_engines, get_engine, migrate

PG_ADMIN_URL = os.environ.get(
    "TRACKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)  # a fixed "now" before the COP12 deadlines
# `make test-pg` sets TRACKER_TEST_DB=postgresql: the store of every test that takes
# `sqlite_url`, `config` or `cli` is then the throw-away PostgreSQL database, unless the test
# is marked `sqlite_only` (it checks something only SQLite has: the file, its locking).
TEST_DB = os.environ.get("TRACKER_TEST_DB", "sqlite")
if TEST_DB not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"TRACKER_TEST_DB must be sqlite or postgresql, not {TEST_DB!r}")


def _on_postgresql(request: pytest.FixtureRequest) -> bool:
    """Whether this test's store is PostgreSQL (make test-pg and not marked sqlite_only)."""
    return TEST_DB == "postgresql" and request.node.get_closest_marker("sqlite_only") is None


@pytest.fixture(autouse=True)
def _close_pooled_connections() -> Iterator[None]:
    """Each test leaves no pooled connection behind (filterwarnings=error sees leaks)."""
    yield
    dispose_engines()


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test's store: a real SQLite file upgraded by Alembic (PostgreSQL under test-pg)."""
    if _on_postgresql(request):
        return str(request.getfixturevalue("pg_url"))
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    migrate(url)
    return url


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"


def _throwaway_pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own for this test session, dropped afterwards."""
    reason = _pg_available()
    if reason and TEST_DB == "postgresql":
        pytest.fail(f"make test-pg needs PostgreSQL: {reason}")  # not a silent all-skip
    if reason:
        pytest.skip(reason)
    from tests.helpers.pg import scratch_database

    with scratch_database(PG_ADMIN_URL, "tracker_test") as url:
        yield url


def _emptied(url: str) -> str:
    """The PostgreSQL database at `url` with its schema dropped and made anew."""
    from sqlalchemy import text

    with get_engine(url).begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    return url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session, dropped afterwards."""
    yield from _throwaway_pg_database()


@pytest.fixture(scope="session")
def pg_second_database() -> Iterator[str]:
    """Another throw-away database, for tests that copy from one store into an empty one."""
    yield from _throwaway_pg_database()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The PostgreSQL database, emptied and migrated to head for this test."""
    migrate(_emptied(pg_database))
    return pg_database


@pytest.fixture
def second_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL of a second, empty store (not migrated) beside the test's own:
    another SQLite file, or under make test-pg another throw-away PostgreSQL database."""
    if _on_postgresql(request):
        return _emptied(str(request.getfixturevalue("pg_second_database")))
    return f"sqlite:///{tmp_path / 'second.db'}"


@pytest.fixture(params=["postgresql"] if TEST_DB == "postgresql" else ["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on a real SQLite file and, when it answers, on PostgreSQL.

    Under make test-pg only the PostgreSQL run (make test has both).
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tracker.db'}"
        migrate(url)
        return url
    return request.getfixturevalue("pg_url")


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Config:
    return build_config(
        {"tracker": {"database": sqlite_url, "base_url": "https://tracker.example.org/"}},
        base_dir=tmp_path,
    )


@pytest.fixture
def config_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A config.toml in a temp folder whose SQLite file sits beside it (not yet created).

    Under make test-pg its database is the throw-away PostgreSQL one (empty, migrated).
    """
    database = (str(request.getfixturevalue("pg_url")) if _on_postgresql(request)
                else "sqlite:///tracker.db")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[tracker]\ntimezone = "Europe/Vienna"\ndatabase = "{database}"\n'
        'base_url = "https://tracker.example.org/"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cli(config_file: Path) -> Cli:
    runner = Cli(config_file)
    runner.ok("init")
    return runner
