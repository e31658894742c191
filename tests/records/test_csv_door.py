"""`tracker member import`: every bad row at once (up to 20), broken CSV refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.helpers.cli import Cli
from tracker.config import load_config
from tracker.db.engine import session_scope
from tracker.records.models import Member

HEADER = "email,name,organisation,tz,series,remind\n"


def members(cli: Cli) -> int:
    with session_scope(load_config(cli.config_file).database_url) as s:  # SQLite or test-pg
        return int(s.scalar(select(func.count()).select_from(Member)) or 0)


def run(cli: Cli, tmp_path: Path, text: str | bytes) -> tuple[int, list[str]]:
    path = tmp_path / "members.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    result = cli("member", "import", str(path))
    return result.exit_code, result.stderr.strip().splitlines()


def test_every_bad_row_is_reported_at_once(cli: Cli, tmp_path: Path) -> None:
    text = (HEADER + "ok@example.org,A,,Africa/Lagos,,\n"
            "bad-address,B,,,,\n"
            "c@example.org,C,,Lagos,,\n"
            "d@example.org,D,,,,99x\n"
            "ok@example.org,again,,,,\n")
    code, lines = run(cli, tmp_path, text)
    assert code == 2
    assert "4 rows" in lines[0] and "nothing imported" in lines[0]
    body = "\n".join(lines[1:])
    for part in ("line 3: email", "line 4: tz", "line 5: remind", "line 6: email"):
        assert part in body, body
    assert members(cli) == 0


def test_at_most_20_bad_rows_are_listed(cli: Cli, tmp_path: Path) -> None:
    text = HEADER + "".join(f"bad{i},x,,,,\n" for i in range(30))
    code, lines = run(cli, tmp_path, text)
    assert code == 2 and len(lines) == 21 and "first 20" in lines[0]
    assert members(cli) == 0


@pytest.mark.parametrize(("text", "words"), [
    (HEADER + 'ok@example.org,"Amina,,Africa/Lagos,,\nb@example.org,B,,,,\n',
     ("line", "quote")),
    ("email,name,email\nok@example.org,A,x@example.org\n", ("header", "email", "twice")),
    (HEADER + "ok@example.org," + "n" * 200_000 + ",,,,\n", ("line 2", "longer")),
    (b"email,name\nok@example.org,\xff\xfe\n", ("UTF-8",)),
    (HEADER + "ok@example.org,bell\x07\x1b[31m,,,,\n", ("line 2", "name", "control")),
], ids=["unterminated-quote", "duplicate-header", "huge-field", "not-utf8", "control"])
def test_broken_csv_is_refused_in_one_line(cli: Cli, tmp_path: Path, text: str | bytes,
                                           words: tuple[str, ...]) -> None:
    code, lines = run(cli, tmp_path, text)
    assert code == 2 and len(lines) == 1, lines
    for word in words:
        assert word in lines[0], lines[0]
    assert "\x07" not in lines[0] and "\x1b" not in lines[0] and "unexpected" not in lines[0]
    assert members(cli) == 0
