"""Links in the HTML mail are checked again when the mail is written, not only at the door."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.helpers.remind_data import add_deadline_at, add_members, make_config
from tracker.db.engine import get_engine, session_scope
from tracker.reminders.mail import preview

NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)",
                                 "data:text/html,<script>alert(1)</script>",
                                 "https://ok.example/\x00x"], ids=str)
def test_a_stored_unsafe_url_never_becomes_a_link(tmp_path: Path, sqlite_url: str,
                                                  url: str) -> None:
    if "\x00" in url and not sqlite_url.startswith("sqlite"):
        pytest.skip("make test-pg: PostgreSQL cannot store a NUL in text, so it cannot arise")
    add_members(sqlite_url, NOW, 1)
    add_deadline_at(sqlite_url, NOW, "reg", "4 Oct 2024")
    with get_engine(sqlite_url).begin() as conn:  # past every door: raw SQL
        conn.execute(text("UPDATE deadlines SET url = :u"), {"u": url})
    config = make_config(tmp_path, sqlite_url)
    with session_scope(sqlite_url) as s:
        msg = preview(s, config, "reg", None, NOW)
    html = msg.get_body(("html",))
    assert html is not None
    body = html.get_content()
    assert "javascript:" not in body.lower() and "data:text" not in body and "\x00" not in body
    assert 'href="https://tracker.example.org/unsubscribe/' in body  # good links stay


def test_mailto_and_https_links_are_kept(tmp_path: Path, sqlite_url: str) -> None:
    add_members(sqlite_url, NOW, 1)
    add_deadline_at(sqlite_url, NOW, "reg", "4 Oct 2024")
    config = make_config(tmp_path, sqlite_url)
    with session_scope(sqlite_url) as s:
        body = preview(s, config, "reg", None, NOW).get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert 'href="https://indico.un.org/event/1/"' in body
