"""Terminal safety: what the CLI prints never carries raw control characters from the input;
odd input gets one line and the right exit status, never "unexpected failure"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import Cli


def raw(config: Path, *args: bytes) -> subprocess.CompletedProcess[bytes]:
    """`tracker` in a subprocess with argv as raw bytes (not necessarily UTF-8)."""
    code = "import sys; from tracker.cli.main import main; sys.argv[0] = 'tracker'; main()"
    env = {**os.environ, "LC_ALL": "C.UTF-8", "PYTHONUTF8": "1"}
    return subprocess.run([sys.executable.encode(), b"-c", code.encode(), b"--config",
                           str(config).encode(), *args], capture_output=True, env=env,
                          timeout=120)


def test_argv_that_is_not_utf8(cli: Cli) -> None:
    proc = raw(cli.config_file, b"event", b"add", b"\xff\xfe title", b"--start", b"2024-10-14")
    assert proc.returncode == 2
    lines = proc.stderr.decode("utf-8").strip().splitlines()
    assert len(lines) == 1 and "not valid UTF-8" in lines[0] and "unexpected" not in lines[0]
    assert b"\xff" not in proc.stderr


@pytest.mark.parametrize("args", [
    ("event", "add", "Bell", "--start", "\x1b[31mtomorrow\x07"),
    ("event", "add", "Bell", "--start", "2024-10-14", "--tz", "Europe/Vi\r\nenna"),
    ("member", "add", "a\x1b]0;pwned\x07@example.org"),
    ("deadline", "add", "X", "--due", "4 Oct 2024", "--url", "https://x.example/\x1b[2J"),
    ("event", "show", "\x1b[31mnope"),
], ids=["when", "tz-crlf", "email", "url", "id"])
def test_messages_escape_control_characters(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.exit_code == 2, (result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unexpected" not in lines[0], lines
    assert not any(c in result.stderr for c in "\x1b\x07\r"), repr(result.stderr)
    assert "\\x1b" in lines[0] or "\\r\\n" in lines[0] or "\\x07" in lines[0], lines[0]


def test_publish_out_to_an_unwritable_place(cli: Cli, tmp_path: Path) -> None:
    cli.ok("event", "add", "Plenary", "--start", "2024-10-14 10:00")
    (tmp_path / "afile").write_text("not a folder")
    result = cli("publish", "--out", str(tmp_path / "afile" / "sub"))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --out: cannot write"), lines


def test_publish_out_to_a_missing_folder_creates_it(cli: Cli, tmp_path: Path) -> None:
    cli.ok("event", "add", "Plenary", "--start", "2024-10-14 10:00")
    cli.ok("publish", "--out", str(tmp_path / "new" / "feeds"))
    assert (tmp_path / "new" / "feeds" / "all.ics").is_file()
