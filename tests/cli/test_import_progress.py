"""The long imports show a progress bar on a terminal and nothing but their summary in a pipe.

Both run the real `tracker` executable: once with stderr on a pseudo-terminal (what a person
at a shell has), once with plain pipes (what cron, CI and `| tee` give it).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import Cli

GOOGLE = Path(__file__).parent.parent / "ics" / "data" / "google_xwr_timezone.ics"
TRACKER = Path(sys.executable).with_name("tracker")
ROWS = 2_500  # three write batches of the member import, the last one partial


def members_csv(folder: Path) -> Path:
    path = folder / "members.csv"
    path.write_text("email,name,organisation,tz,series,remind\n" + "".join(
        f"m{i:05d}@example.net,Member {i},NGO {i % 7},Africa/Lagos,,\n" for i in range(ROWS)),
        encoding="utf-8")
    return path


def on_terminal(config_file: Path, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, what the terminal showed) with stderr on a pseudo-terminal."""
    main, child = pty.openpty()
    proc = subprocess.Popen([str(TRACKER), "--config", str(config_file), *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=child)
    os.close(child)
    shown = bytearray()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1)
            if not ready:
                continue
            try:
                data = os.read(main, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not data:
                break
            shown += data
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(main)
    return proc.returncode, out.decode(), shown.decode()


def percentages(shown: str) -> list[int]:
    return [int(p) for p in re.findall(r"(\d+)%", shown)]


CASES = pytest.mark.parametrize(("args", "summary"), [
    (("member", "import", "{csv}"), f"imported members.csv: {ROWS} added, 0 updated, 0 unchanged"),
    (("import", "ics", str(GOOGLE)), "6 added, 0 updated, 0 unchanged, 0 skipped"),
], ids=["member-import", "import-ics"])


def piped(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TRACKER), "--config", str(config_file), *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


@CASES
def test_a_terminal_gets_a_progress_bar(cli: Cli, tmp_path: Path, args: tuple[str, ...],
                                        summary: str) -> None:
    argv = [a.format(csv=members_csv(tmp_path)) for a in args]
    code, out, shown = on_terminal(cli.config_file, *argv)
    assert code == 0, (out, shown)
    assert out == summary + "\n"
    assert "Importing" in shown and "#" in shown, shown
    seen = percentages(shown)
    assert seen == sorted(seen) and seen[-1] == 100, shown  # it moves forward, to the end
    assert len(set(seen)) >= 3, shown  # ...in steps, not only at the end


@CASES
def test_a_pipe_gets_the_summary_alone(cli: Cli, tmp_path: Path, args: tuple[str, ...],
                                       summary: str) -> None:
    argv = [a.format(csv=members_csv(tmp_path)) for a in args]
    proc = piped(cli.config_file, *argv)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == summary + "\n"
    assert proc.stderr == ""
