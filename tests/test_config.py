"""config.toml: the shipped file equals the built-in defaults; `[mail] templates` resolution."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers.cli import Cli
from tests.helpers.remind_data import add_deadline_at, add_members
from tracker.config import Config, build_config, load_config, packaged_templates
from tracker.db.engine import session_scope
from tracker.errors import ConfigError
from tracker.reminders.mail import preview

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)


def test_shipped_config_equals_built_in_defaults() -> None:
    shipped = load_config(ROOT / "config.toml")
    assert shipped == Config(base_dir=shipped.base_dir, source=shipped.source)


def test_default_folder_beside_the_config_is_used_when_it_exists(tmp_path: Path) -> None:
    (tmp_path / "templates" / "emails").mkdir(parents=True)
    config = build_config({}, base_dir=tmp_path)
    assert config.templates_dir == tmp_path / "templates" / "emails"


def test_default_folder_absent_falls_back_to_the_packaged_copy(tmp_path: Path) -> None:
    config = build_config({"mail": {"templates": "templates/emails"}}, base_dir=tmp_path)
    assert config.templates_dir == packaged_templates()
    assert (packaged_templates() / "registration.txt.j2").is_file()


def test_explicit_folder_is_used_for_the_mail(tmp_path: Path, sqlite_url: str) -> None:
    custom = tmp_path / "our-mail"
    custom.mkdir()
    (custom / "registration.txt.j2").write_text("Custom text for {{ member_name }}.\n",
                                                encoding="utf-8")
    (custom / "registration.html.j2").write_text("<p>Custom {{ member_name }}</p>\n",
                                                 encoding="utf-8")
    add_members(sqlite_url, NOW, 1)
    add_deadline_at(sqlite_url, NOW, "reg", "14 Oct 2024 noon")
    stock = build_config({"tracker": {"database": sqlite_url}}, base_dir=tmp_path)
    ours = build_config({"tracker": {"database": sqlite_url}, "mail": {"templates": "our-mail"}},
                        base_dir=tmp_path)
    assert ours.templates_dir == custom

    def text(config: Config) -> str:
        with session_scope(sqlite_url) as session:
            msg = preview(session, config, "reg", None, NOW)
        body = msg.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    # One process, two folders: each config gets its own templates (the cache is per folder).
    assert "Register every participant" in text(stock)
    assert text(ours).strip() == "Custom text for Member 0."
    assert "Register every participant" in text(stock)


def test_explicit_missing_folder_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"mail": {"templates": "no-such-folder"}}, base_dir=tmp_path)
    assert caught.value.field == "[mail] templates"
    assert str(tmp_path / "no-such-folder") in caught.value.message
    with pytest.raises(ConfigError, match="must name a folder"):
        build_config({"mail": {"templates": " "}}, base_dir=tmp_path)


def test_cli_exits_2_on_a_missing_templates_folder(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[mail]\ntemplates = "mail-templates"\n', encoding="utf-8")
    result = Cli(path)("event", "list")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: [mail] templates: no folder at {tmp_path / 'mail-templates'}")


def test_templates_dir_follows_the_config_folder(tmp_path: Path) -> None:
    """Relative like the other paths: to the config file's folder, not the working directory."""
    (tmp_path / "mail").mkdir()
    config = build_config({"mail": {"templates": "mail"}}, base_dir=tmp_path)
    assert config.templates_dir == tmp_path / "mail"
    moved = dataclasses.replace(config, base_dir=tmp_path / "elsewhere")
    assert moved.templates_dir == packaged_templates()  # `mail` is not there: the stock copy


@pytest.mark.parametrize(("mail", "field"), [
    ({"helo": "not a host"}, "[mail] helo"),
    ({"dkim_key": "missing.pem", "dkim_selector": "s1"}, "[mail] dkim_key"),
    ({"dkim_selector": "s1"}, "[mail] dkim_selector"),
    ({"dkim_key": "key.pem"}, "[mail] dkim_selector"),
    ({"dkim_key": "key.pem", "dkim_selector": "bad selector"}, "[mail] dkim_selector"),
], ids=["helo", "key-missing", "selector-without-key", "key-without-selector", "bad-selector"])
def test_mail_identity_keys_are_checked_by_name(tmp_path: Path, mail: dict[str, str],
                                                field: str) -> None:
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        build_config({"mail": mail}, base_dir=tmp_path)
    assert caught.value.field == field


def test_helo_defaults_to_the_host_of_base_url(tmp_path: Path) -> None:
    config = build_config({"tracker": {"base_url": "https://calendars.example.org/x/"}},
                          base_dir=tmp_path)
    assert config.helo_name == "calendars.example.org"
    named = build_config({"mail": {"helo": "mx.example.org"}}, base_dir=tmp_path)
    assert named.helo_name == "mx.example.org" and named.dkim_key_path is None
