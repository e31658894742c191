"""`tracker init --sample FILE`: the sample file is a door like the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import Cli

GOOD_EVENT = '[[event]]\nid = "ok"\ntitle = "Fine"\nstart = "14 Oct 2024 10:00"\n'


@pytest.mark.parametrize(("text", "words"), [
    ('[[event]]\nid = "far"\ntitle = "Far"\nstart = "9999-12-31 23:30"\n',
     ("event far", "start", "2199")),
    ('[[event]]\nid = "d"\ntitle = "Dated"\nstart = 2024-10-14\n', ("event d", "start", "quotes")),
    ('[[event]]\nid = "s"\ntitle = "S"\nstart = "2024-10-14"\nseries = "untoc-cop"\n',
     ("event s", "series", "list")),
    ('deadline = "x"\n', ("[[deadline]]", "list of tables")),
    ('[[deadline]]\nid = "r"\ntitle = "R"\ndue = "4 Oct 2024"\nremind = "'
     + ",".join(f"{n}m" for n in range(1, 30)) + '"\n', ("deadline r", "remind", "20")),
    ('[[event]]\nid = "b"\ntitle = "Bell\\u0007"\nstart = "2024-10-14"\n',
     ("event b", "title", "control")),
], ids=["year-9999", "toml-date", "series-text", "not-tables", "offsets", "bell"])
def test_bad_sample_values_are_refused_by_item_and_field(
        cli: Cli, tmp_path: Path, text: str, words: tuple[str, ...]) -> None:
    path = tmp_path / "sample.toml"
    path.write_text(text + "\n" + GOOD_EVENT, encoding="utf-8")
    result = cli("init", "--sample", str(path))
    assert result.exit_code == 2, (result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unexpected" not in lines[0], lines
    for word in words:
        assert word in lines[0], lines[0]
    assert "\x07" not in lines[0]
    assert json.loads(cli.ok("event", "list", "--json").output) == []


def test_sample_not_utf8(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "sample.toml"
    path.write_bytes(b'[[event]]\ntitle = "Caf\xe9"\n')
    result = cli("init", "--sample", str(path))
    assert result.exit_code == 2 and "UTF-8" in result.stderr
