"""deploy/sqlite_to_postgres.py: SQLite with sample data -> PostgreSQL -> same rows, same feeds."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import select

from tests.helpers.feed_data import NOW
from tests.helpers.feeds import fill, make_config, publish
from tests.helpers.remind_data import add_deadline_at
from tests.helpers.remind_data import make_config as remind_config
from tracker.db.base import Base
from tracker.db.engine import session_scope
from tracker.records.members import MemberInput, add_member
from tracker.reminders import outbox
from tracker.timeparse import iso_utc

pytestmark = [pytest.mark.postgres, pytest.mark.sqlite_only]  # copies from a SQLite file
SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "sqlite_to_postgres.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sqlite_to_postgres", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every model table, in primary-key order, as the models read them."""
    with session_scope(url) as s:
        return {t.name: [tuple(r) for r in s.execute(select(t).order_by(*t.primary_key.columns))]
                for t in Base.metadata.sorted_tables if t.name != "feed_generation"}


def test_copy_gives_the_same_rows_and_byte_identical_feeds(
    tmp_path: Path, sqlite_url: str, pg_url: str
) -> None:
    fill(sqlite_url)  # the feed matrix: events, deadlines, members in many zones
    add_deadline_at(sqlite_url, NOW, "soon", iso_utc(NOW + timedelta(hours=30)), remind="1d,2h")
    with session_scope(sqlite_url) as s:  # outbox rows and plans too
        outbox.sync(s, remind_config(tmp_path, sqlite_url), NOW)
    before = publish(make_config(tmp_path / "sqlite", sqlite_url), NOW)  # fills feed_cache
    source = _rows(sqlite_url)
    assert all(source[name] for name in ("events", "deadlines", "members", "reminders",
                                         "reminder_plans", "feed_cache")), \
        {k: len(v) for k, v in source.items()}

    run = subprocess.run([sys.executable, str(SCRIPT), sqlite_url, pg_url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"members: {len(source['members'])} rows" in run.stdout

    assert _rows(pg_url) == source
    after = publish(make_config(tmp_path / "pg", pg_url), NOW)
    assert after.rendered == 0  # the copied per-item cache is used as is
    assert [f.name for f in after.files] == [f.name for f in before.files]
    for f_sqlite, f_pg in zip(before.files, after.files, strict=True):
        assert f_pg.path.read_bytes() == f_sqlite.path.read_bytes(), f_pg.name
    # The id sequences moved past the copied ids: a new member gets a fresh id.
    with session_scope(pg_url) as s:
        added = add_member(s, "new@example.net", MemberInput(), default_tz="Europe/Vienna",
                           now=NOW)
        assert added.id > max(int(str(r[0])) for r in source["members"])


def test_copy_refuses_a_target_that_is_not_empty(
    sqlite_url: str, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(sqlite_url)
    script = _script()
    assert script.main([sqlite_url, pg_url]) == 0
    capsys.readouterr()
    assert script.main([sqlite_url, pg_url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: table ") and "is not empty" in err


def test_copy_refuses_a_missing_source_and_writes_nothing(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    assert _script().main([missing, pg_url]) == 2
    assert "no SQLite file at" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()
    assert not any(_rows(pg_url).values())
