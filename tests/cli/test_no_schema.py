"""A folder where `tracker init` never ran: commands say so and create nothing there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers.processes import ROOT


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
    return tmp_path


@pytest.mark.parametrize("args", [("event", "list"), ("deadline", "list", "--json"),
                                  ("member", "list"), ("publish",), ("remind", "send-due")],
                         ids=" ".join)
def test_commands_in_a_folder_without_a_database(empty: Path, args: tuple[str, ...]) -> None:
    from tracker.cli.main import main

    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "tracker init" in lines[0] and "no such table" not in lines[0]
    assert sorted(p.name for p in empty.iterdir()) == []  # no tracker.db, no calendars/


def test_a_database_file_without_the_schema(empty: Path) -> None:
    from tracker.cli.main import main

    (empty / "other.db").write_bytes(b"")
    result = CliRunner().invoke(main, ["--db", "sqlite:///other.db", "event", "list"])
    assert result.exit_code == 1 and "has no schema" in result.stderr
    assert "tracker init" in result.stderr


def test_init_then_list_works(empty: Path) -> None:
    from tracker.cli.main import main

    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    assert CliRunner().invoke(main, ["event", "list"]).exit_code == 0


def test_scheduler_started_in_a_random_folder(empty: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRACKER_CONFIG", None)
    proc = subprocess.run([sys.executable, str(ROOT / "scheduler.py"), "--once"], cwd=empty,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "tracker init" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in empty.iterdir()) == []
