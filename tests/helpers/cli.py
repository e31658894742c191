"""Running `tracker` in-process against a real config file and its database; reading it back."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import MetaData, select

from tracker.config import load_config
from tracker.db.engine import get_engine


def dump(config_file: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the config's database, to prove a command wrote nothing.

    Read through the config's own URL, so it is the same check on a SQLite file and, under
    make test-pg, on PostgreSQL (reading a SQLite path there would compare two empty dumps).
    """
    with get_engine(load_config(config_file).database_url).connect() as conn:
        meta = MetaData()
        meta.reflect(conn)
        return {t.name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr)
                for t in meta.sorted_tables}


class Cli:
    """Runs `tracker --config FILE ...` in-process on a real SQLite file."""

    def __init__(self, config_file: Path) -> None:
        self.config_file = config_file
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        from tracker.cli.main import main

        return self.runner.invoke(
            main, ["--config", str(self.config_file), *args], input=input, catch_exceptions=False
        )

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.output, result.stderr)
        return result


def second_cli(cli: Cli, name: str, database: str) -> Cli:
    """A second initialised store beside `cli`'s: its config copied into the folder `name`,
    with `database` (the `second_store` fixture) in place of the first one's."""
    folder = cli.config_file.parent / name
    folder.mkdir()
    config = folder / "config.toml"
    text = cli.config_file.read_text(encoding="utf-8")
    text, found = re.subn(r'(?m)^database = ".*"$', f'database = "{database}"', text)
    assert found == 1, text
    config.write_text(text, encoding="utf-8")
    other = Cli(config)
    other.ok("init")
    return other
