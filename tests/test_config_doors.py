"""Config values that would break later are refused when the config is loaded, by key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers.cli import Cli
from tracker.config import RANGES, SECTIONS, Config, build_config, load_config
from tracker.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def int_keys() -> list[tuple[str, str]]:
    return [(name, f.name) for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)
            if f.type in ("int", int)]


def test_every_whole_number_key_has_a_documented_range() -> None:
    assert sorted(int_keys()) == sorted(RANGES)
    shipped = (ROOT / "config.toml").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for (_section, key), (lo, hi) in RANGES.items():
        line = next(x for x in shipped.splitlines() if x.startswith(f"{key} ="))
        assert f"{lo}-{hi}" in line, line
        assert f"`{key}`" in readme and f"{lo}-{hi}" in readme


@pytest.mark.parametrize("key", sorted(RANGES), ids=lambda k: f"{k[0]}.{k[1]}")
def test_values_outside_the_range_are_refused(tmp_path: Path, key: tuple[str, str]) -> None:
    section, name = key
    lo, hi = RANGES[key]
    for value in (lo - 1, hi + 1, 10**20, 2**63):
        with pytest.raises(ConfigError) as caught:
            build_config({section: {name: value}}, base_dir=tmp_path)
        assert caught.value.field == f"[{section}] {name}"
        assert f"from {lo} to {hi}" in caught.value.message
    for value in (lo, hi):
        build_config({section: {name: value}}, base_dir=tmp_path)


@pytest.mark.parametrize(("raw", "field", "words"), [
    ({"mail": {"sender": "not an address"}}, "[mail] sender", "not an address"),
    ({"mail": {"sender": "A <a@example.org>\r\nBcc: x@evil.example"}}, "[mail] sender", "\\r\\n"),
    ({"mail": {"sender": "Sécrétariat <sécr@example.org>"}}, "[mail] sender", "ASCII address"),
    ({"tracker": {"base_url": "http://"}}, "[tracker] base_url", "host"),
    ({"tracker": {"base_url": "ftp://example.org/"}}, "[tracker] base_url", "http"),
    ({"calendars": {"name": "Alliance\x07\x1b[31m"}}, "[calendars] name", "control"),
    ({"calendars": {"name": "Two\nlines"}}, "[calendars] name", "control"),
    ({"tracker": {"database": "tracker.db"}}, "[tracker] database", "sqlite:///tracker.db"),
    ({"tracker": {"database": "postgres://u:hunter2@db/x"}}, "[tracker] database",
     "postgresql+psycopg://u:***@db/x"),
    ({"tracker": {"database": "mysql://u@db/x"}}, "[tracker] database", "not installed"),
], ids=["sender", "sender-crlf", "sender-not-ascii", "base-url-host", "base-url-scheme", "name-bell", "name-newline",
        "db-path", "db-postgres", "db-mysql"])
def test_values_that_break_later_are_refused(tmp_path: Path, raw: dict[str, dict[str, object]],
                                             field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(raw, base_dir=tmp_path)
    assert caught.value.field == field and words in caught.value.message
    assert "hunter2" not in caught.value.message


def test_config_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[calendars]\nname = "Caf\xe9"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "UTF-8" in caught.value.message
    result = Cli(path)("event", "list")
    assert result.exit_code == 2 and "UTF-8" in result.stderr and "unexpected" not in result.stderr


@pytest.mark.parametrize(("url", "words"), [
    ("tracker.db", "sqlite:///tracker.db"),
    ("postgres://me@db/tracker", "postgresql+psycopg://me@db/tracker"),
    ("mysql://me@db/tracker", "not installed"),
], ids=["path", "postgres", "mysql"])
def test_db_option_suggests_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str,
                                    words: str) -> None:
    from tracker.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["--db", url, "event", "list"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--db" in lines[0] and words in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_defaults_still_load() -> None:
    assert build_config({}, base_dir=ROOT) == Config(base_dir=ROOT)
