"""Start-up cost: every `tracker` command imports the CLI; what only some commands use is
imported where it is used (each of these costs 0.1-0.3 s on every command otherwise)."""

from __future__ import annotations

import json
import subprocess
import sys

LATE = ("alembic", "ical", "pydantic", "starlette", "uvicorn", "apscheduler", "aiosmtpd")


def test_the_cli_does_not_import_what_only_some_commands_need() -> None:
    code = (
        "import json, sys, tracker.cli.main\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({LATE!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
