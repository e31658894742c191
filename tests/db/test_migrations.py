"""Alembic migrations: `tracker init` creates, re-running is harmless, upgrades keep rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from tests.helpers.cli import Cli
from tracker.db.engine import alembic_config, current_revision, get_engine, migrate


def heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


@pytest.mark.sqlite_only  # the SQLite file beside the config is what it checks
def test_init_on_empty_file_then_again(config_file: Path) -> None:
    cli = Cli(config_file)
    first = cli.ok("init").stdout
    db = config_file.parent / "tracker.db"
    assert db.exists()  # relative to the config file, not the working directory
    second = cli.ok("init").stdout
    assert first.splitlines()[0] == second.splitlines()[0]
    assert set(current_revision(f"sqlite:///{db}").split("+")) == heads()
    tables = set(inspect(get_engine(f"sqlite:///{db}")).get_table_names())
    assert {"events", "deadlines", "members", "alembic_version"} <= tables


def test_single_head() -> None:
    assert len(heads()) == 1, f"migrations have several heads: {heads()}; add a merge revision"


def test_upgrade_from_first_revision_keeps_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0001")
    with get_engine(url).begin() as conn:
        conn.execute(text(
            "insert into events (id, uid, title, series, tz, all_day, start_utc, end_utc, location,"
            " mode, url, description, status, visibility, sequence, created_at, modified_at) values"
            " ('cop12', 'cop12.event@x', 'COP12', '[\"untoc-cop\"]', 'Europe/Vienna', 0,"
            " '2024-10-14 07:00:00', '2024-10-14 15:00:00', '', 'hybrid', '', '', 'confirmed',"
            " 'public', 3, '2024-01-01 00:00:00', '2024-01-01 00:00:00')"))
        conn.execute(text(
            "insert into members (email, name, organisation, tz, series, kinds, active, feed_token,"
            " unsubscribe_token, created_at, modified_at) values ('a@example.org', 'A', '',"
            " 'Africa/Lagos', '[]', '[]', 1, 'f', 'u', '2024-01-01 00:00:00',"
            " '2024-01-01 00:00:00')"))
    migrate(url)
    migrate(url)
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("select id, title, sequence from events").fetchall() == [
        ("cop12", "COP12", 3)]
    assert conn.execute("select email, tz from members").fetchall() == [
        ("a@example.org", "Africa/Lagos")]
    conn.close()


def test_migrations_match_the_models(db_url: str) -> None:
    """Autogenerate finds nothing to do: every model change came with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import tracker.feeds.cache  # noqa: F401
    import tracker.reminders.tables  # noqa: F401
    from tracker.db.base import Base

    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_recurrence_migration_keeps_events_single_and_downgrades_with_triggers(
    tmp_path: Path,
) -> None:
    """0007: existing events stay single events; a downgrade (which copies `events` on SQLite)
    leaves the feed-generation triggers in place."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0005_feed_generation")
    with get_engine(url).begin() as conn:
        conn.execute(text(
            "insert into events (id, uid, title, series, tz, all_day, start_utc, end_utc, location,"
            " mode, url, description, status, visibility, sequence, created_at, modified_at) values"
            " ('cop12', 'cop12.event@x', 'COP12', '[]', 'Europe/Vienna', 0,"
            " '2024-10-14 07:00:00', '2024-10-14 15:00:00', '', 'hybrid', '', '', 'confirmed',"
            " 'public', 3, '2024-01-01 00:00:00', '2024-01-01 00:00:00')"))
    migrate(url)
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("select id, rrule, rdates from events").fetchall() == [
        ("cop12", None, "[]")]
    conn.close()
    command.downgrade(alembic_config(url), "0005_feed_generation")
    conn = sqlite3.connect(tmp_path / "old.db")
    triggers = {r[0] for r in conn.execute("select name from sqlite_master where type='trigger'")}
    assert {"events_feed_generation_insert", "events_feed_generation_update",
            "events_feed_generation_delete"} <= triggers
    before = conn.execute("select generation from feed_generation").fetchone()[0]
    conn.execute("update events set title = 'COP 12'")
    conn.commit()
    assert conn.execute("select generation from feed_generation").fetchone()[0] == before + 1
    assert "occurrence_changes" not in {
        r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    conn.close()


def test_member_mail_keeps_todays_meaning_and_first_due(db_url: str) -> None:
    """0006_member_mail/0009_first_due on older data: mail = active; open deadlines keep their
    first due. Down to 0008 (which also runs the downgrades), write rows as that schema had
    them, up again.
    """
    from alembic import command

    with get_engine(db_url).begin() as connection:
        cfg = alembic_config(db_url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0008_reminder_history")
    with get_engine(db_url).begin() as conn:
        for i, active in enumerate((True, False)):
            conn.execute(text(
                "insert into members (email, name, organisation, tz, series, kinds, active,"
                " feed_token, unsubscribe_token, created_at, modified_at) values (:e, '', '',"
                " 'Africa/Lagos', '[]', '[]', :a, :f, :u, '2024-01-01 00:00:00',"
                " '2024-01-01 00:00:00')"), {"e": f"m{i}@example.org", "a": active,
                                             "f": f"f{i}", "u": f"u{i}"})
        for ident, status in (("d-open", "open"), ("d-ext", "extended")):
            conn.execute(text(
                "insert into deadlines (id, uid, title, kind, series, tz, due_utc, due_date,"
                " instructions, url, email, location, status, visibility, sequence, created_at,"
                " modified_at) values (:i, :u, 'T', 'other', '[]', 'Europe/Vienna',"
                " '2024-10-04 21:59:00', '2024-10-04', '', '', '', '', :s, 'public', 0,"
                " '2024-01-01 00:00:00', '2024-01-01 00:00:00')"),
                {"i": ident, "u": f"{ident}@x", "s": status})
    migrate(db_url)
    with get_engine(db_url).connect() as conn:
        assert sorted(conn.execute(text("select email, active, mail from members")).all()) == [
            ("m0@example.org", True, True), ("m1@example.org", False, False)]
        firsts = dict(conn.execute(text("select id, first_due_date from deadlines")).all())
    assert str(firsts["d-open"]) == "2024-10-04" and firsts["d-ext"] is None


def test_first_due_downgrade_keeps_the_deadline_triggers(tmp_path: Path) -> None:
    """0009's downgrade copies `deadlines` on SQLite: the feed-generation triggers come back."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate(url)
    with get_engine(url).begin() as connection:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0006_member_mail")
    conn = sqlite3.connect(tmp_path / "x.db")
    triggers = {r[0] for r in conn.execute("select name from sqlite_master where type='trigger'")}
    assert {f"deadlines_feed_generation_{v}" for v in ("insert", "update", "delete")} <= triggers
    conn.close()
