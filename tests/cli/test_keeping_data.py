"""Keeping the data: `tracker backup` of a live SQLite file, `tracker export --json` /
`tracker import json` round trips, shell completion as the README documents it."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.cli.test_cli import dump
from tests.feeds.test_recurring_feeds import build_season
from tests.helpers.cli import Cli, second_cli


def fill(cli: Cli) -> None:
    build_season(cli)  # recurring events with cancelled and moved occurrences, all-day ones
    cli.ok("event", "add", "COP12", "--start", "2024-10-14", "--end", "2024-10-18",
           "--series", "untoc-cop", "--id", "cop12")
    cli.ok("deadline", "add", "Registration", "--due", "2024-10-04", "--event", "cop12",
           "--remind", "7d,1d", "--id", "reg", "--url", "https://indico.un.org/")
    cli.ok("deadline", "edit", "reg", "--due", "2024-10-11")  # extended, sequence 1
    cli.ok("deadline", "add", "Speakers", "--due", "14 Oct 2024 noon", "--opens", "2024-09-02",
           "--event", "cop12", "--kind", "speakers-list", "--id", "speakers")
    cli.ok("deadline", "cancel", "speakers")
    cli.ok("member", "add", "amina@example.org", "--name", "Amina Bello", "--tz", "Africa/Lagos",
           "--series", "untoc-cop", "--remind", "3d")
    cli.ok("member", "add", "hal@example.org", "--tz", "America/Halifax")


def exported(cli: Cli) -> dict[str, object]:
    data = json.loads(cli.ok("export", "--json").stdout)
    data.pop("exported_at")
    return data


def test_export_import_round_trip_gives_the_same_database_and_feeds(
    cli: Cli, tmp_path: Path, second_store: str
) -> None:
    fill(cli)
    path = tmp_path / "export.json"
    cli.ok("export", "--json", "--out", str(path))
    other = second_cli(cli, "restored", second_store)
    out = other.ok("import", "json", str(path)).stdout
    assert out.strip() == ("9 events, 4 occurrence changes, 2 deadlines, 2 members imported")
    assert exported(other) == exported(cli)  # same ids, UIDs, SEQUENCEs, tokens, times
    first = json.loads(cli.ok("event", "list", "--json").stdout)
    assert json.loads(other.ok("event", "list", "--json").stdout) == first
    for runner, folder in ((cli, tmp_path / "a"), (other, tmp_path / "b")):
        runner.ok("publish", "--out", str(folder))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    member = json.loads(other.ok("member", "show", "amina@example.org", "--json").stdout)
    assert member["feed_url"] == json.loads(
        cli.ok("member", "show", "amina@example.org", "--json").stdout)["feed_url"]


def test_import_json_refuses_bad_files_and_writes_nothing(
    cli: Cli, tmp_path: Path, second_store: str
) -> None:
    fill(cli)
    good = json.loads(cli.ok("export", "--json").stdout)
    other = second_cli(cli, "empty", second_store)
    before = dump(other.config_file)
    bad_zone = json.loads(json.dumps(good))
    bad_zone["deadlines"][1]["tz"] = "Europe/Viena"
    cases = [
        ("not json{", "FILE: ", "is not JSON"),
        (json.dumps({"events": []}), "FILE: ", "not a tracker export"),
        (json.dumps({**good, "version": 9}), "FILE: ", "version 9"),
        (json.dumps(bad_zone), "deadlines[2]: tz: ", "did you mean Europe/Vienna"),
    ]
    for n, (text, field, message) in enumerate(cases):
        path = tmp_path / f"bad{n}.json"
        path.write_text(text, encoding="utf-8")
        result = other("import", "json", str(path))
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and field in result.stderr, result.stderr
        assert message in result.stderr, result.stderr
        assert dump(other.config_file) == before
    path = tmp_path / "good.json"
    path.write_text(json.dumps(good), encoding="utf-8")
    result = cli("import", "json", str(path))  # into the database it came from
    assert result.exit_code == 2 and "is not empty" in result.stderr


@pytest.mark.sqlite_only  # the backup of a live SQLite file
def test_backup_while_a_writer_commits_is_consistent(cli: Cli, tmp_path: Path) -> None:
    """Another connection commits ten events per transaction while the backup copies a page
    at a time; the copy opens, passes integrity_check, and holds whole transactions only."""
    cli.ok("event", "add", "Seed", "--start", "2031-01-01 10:00", "--id", "seed")
    db = cli.config_file.parent / "tracker.db"
    stop = threading.Event()
    batches = [0]

    def writer() -> None:
        conn = sqlite3.connect(db, timeout=30)
        try:
            while not stop.is_set() and batches[0] < 400:
                with conn:
                    for k in range(10):
                        n = batches[0] * 10 + k
                        conn.execute(
                            "insert into events (id, uid, title, series, tz, all_day, start_utc,"
                            " end_utc, location, mode, url, description, status, visibility,"
                            " sequence, created_at, modified_at, rdates) values (?, ?, 'W',"
                            " '[]', 'UTC', 0, '2031-01-01 10:00:00', '2031-01-01 11:00:00', '',"
                            " 'online', '', '', 'confirmed', 'public', 0, '2031-01-01 00:00:00',"
                            " '2031-01-01 00:00:00', '[]')", (f"w{n}", f"w{n}@x"))
                batches[0] += 1
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while batches[0] < 5:
            stop.wait(0.01)
        copies = [tmp_path / f"copy{i}.db" for i in range(3)]
        for copy in copies:
            assert cli.ok("backup", str(copy)).stdout.startswith(f"backed up to {copy}")
    finally:
        stop.set()
        thread.join()
    for copy in copies:
        conn = sqlite3.connect(copy)
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
        written = conn.execute("select count(*) from events where id like 'w%'").fetchone()[0]
        assert written % 10 == 0 and written >= 50, written
        assert conn.execute("select title from events where id = 'seed'").fetchone() == ("Seed",)
        conn.close()


@pytest.mark.sqlite_only  # backs up the SQLite file first
def test_backup_refuses_what_it_cannot_do(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    cli.ok("backup", str(target))
    again = cli("backup", str(target))
    assert again.exit_code == 2 and "exists" in again.stderr
    pg = cli("--db", "postgresql+psycopg://u@127.0.0.1/none", "backup", str(tmp_path / "x.db"))
    assert pg.exit_code == 2 and "pg_dump" in pg.stderr and pg.stderr.count("\n") == 1


def test_shell_completion_as_the_readme_says() -> None:
    from click.testing import CliRunner

    from tracker.cli.main import main

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f"_TRACKER_COMPLETE={shell}_source tracker" in readme, shell
        result = CliRunner().invoke(main, [], prog_name="tracker",
                                    env={"_TRACKER_COMPLETE": f"{shell}_source"})
        assert result.exit_code == 0 and "_TRACKER_COMPLETE" in result.output, shell
    words = CliRunner().invoke(main, [], prog_name="tracker", env={
        "_TRACKER_COMPLETE": "bash_complete", "COMP_WORDS": "tracker ev", "COMP_CWORD": "1"})
    assert "event" in words.output
