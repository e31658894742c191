"""Running `tracker` in-process against a real config file and SQLite database."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result


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
