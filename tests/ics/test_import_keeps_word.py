"""Imports that keep their word: tags are added, never removed; Outlook's zone display names;
Google's HTML descriptions. Each through `tracker import ics` on a real database."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cli import Cli
from tests.helpers.feedcheck import read_icalendar

DATA = Path(__file__).parent / "data"
GOOGLE = DATA / "google_xwr_timezone.ics"
OUTLOOK_IDS = DATA / "outlook_windows_zone.ics"
OUTLOOK_NAMES = DATA / "outlook_display_names.ics"


def events(cli: Cli) -> dict[str, dict]:
    return {e["uid"]: e for e in json.loads(cli.ok("event", "list", "--json").stdout)}


def test_reimport_without_series_keeps_the_tags_and_the_sequence(
    cli: Cli, tmp_path: Path
) -> None:
    """The reported bug: a second import without --series took `ccpcj` off every item, raised
    their SEQUENCE (so they left ccpcj.ics), and re-importing with --series was then refused
    item by item ("our copy is newer")."""
    cli.ok("import", "ics", str(GOOGLE), "--series", "ccpcj")
    first = events(cli)
    out = tmp_path / "cal"
    cli.ok("publish", "--out", str(out))
    in_feed = set(read_icalendar((out / "ccpcj.ics").read_bytes()))
    assert len(in_feed) == 5  # the sixth is CLASS:PRIVATE
    again = cli.ok("import", "ics", str(GOOGLE)).output
    assert "0 added, 0 updated, 6 unchanged, 0 skipped" in again, again
    assert events(cli) == first
    cli.ok("publish", "--out", str(out))
    assert set(read_icalendar((out / "ccpcj.ics").read_bytes())) == in_feed
    third = cli.ok("import", "ics", str(GOOGLE), "--series", "ccpcj").output
    assert "0 added, 0 updated, 6 unchanged, 0 skipped" in third, third
    assert events(cli) == first


def test_a_new_series_tag_is_added_and_a_later_plain_import_is_not_refused(cli: Cli) -> None:
    cli.ok("import", "ics", str(GOOGLE))
    before = events(cli)
    added = cli.ok("import", "ics", str(GOOGLE), "--series", "csw").output
    assert "0 added, 5 updated, 1 unchanged" in added, added  # one has CATEGORIES:CSW already
    after = events(cli)
    for uid, event in after.items():
        bump = 0 if "csw" in before[uid]["series"] else 1
        assert "csw" in event["series"] and event["sequence"] == before[uid]["sequence"] + bump
        assert set(before[uid]["series"]) <= set(event["series"])
    plain = cli.ok("import", "ics", str(GOOGLE)).output  # older SEQUENCEs, but nothing to change
    assert "0 added, 0 updated, 6 unchanged, 0 skipped" in plain, plain
    assert events(cli) == after


def test_outlook_display_names_map_to_the_zones_their_vtimezones_describe(cli: Cli) -> None:
    """'(UTC+01:00) Amsterdam, Berlin, ...' was skipped as an unknown zone; it now reads the
    same instants as the file with Windows ids, the W. Europe ones stored as Europe/Vienna
    (the configured zone, which keeps the same clock)."""
    out = cli.ok("import", "ics", str(OUTLOOK_NAMES)).output
    assert "9 added, 0 updated, 0 unchanged, 0 skipped" in out, out
    named = {u[40:44]: e for u, e in events(cli).items()}
    want = {"A0B1": "Europe/Vienna", "B1C2": "Europe/Vienna", "C2D3": "America/New_York",
            "D3E4": "America/Halifax", "E4F5": "Asia/Karachi", "F5A6": "Africa/Lagos",
            "A6B7": "Asia/Tokyo"}
    assert {k: named[k]["tz"] for k in want} == want
    # The same meetings with Windows ids give the same instants (into a second database).
    other = cli.config_file.parent / "other"
    other.mkdir()
    config = other / "config.toml"
    config.write_text(cli.config_file.read_text(encoding="utf-8"), encoding="utf-8")
    ids = Cli(config)
    ids.ok("init")
    ids.ok("import", "ics", str(OUTLOOK_IDS))
    by_ids = {u[40:44]: e for u, e in events(ids).items()}
    for key in want:
        assert named[key]["start_utc"] == by_ids[key]["start_utc"], key
        assert named[key]["tz"] == by_ids[key]["tz"], key


def test_outlook_names_follow_the_configured_zone_only_when_it_keeps_the_same_clock(
    cli: Cli, tmp_path: Path
) -> None:
    config = tmp_path / "ny.toml"
    config.write_text(cli.config_file.read_text(encoding="utf-8").replace(
        "Europe/Vienna", "America/New_York"), encoding="utf-8")
    ny = Cli(config)
    ny.ok("import", "ics", str(OUTLOOK_NAMES))
    got = {u[40:44]: e["tz"] for u, e in events(ny).items()}
    assert got["A0B1"] == "Europe/Amsterdam"  # the first city named, same rules as the file
    assert got["C2D3"] == "America/New_York"


def test_google_html_description_becomes_text_with_links(cli: Cli, tmp_path: Path) -> None:
    html = ("Briefing for members<br>Register: <a href=\"https://www.google.com/url?q=https://"
            "indico.un.org/event/1234&amp;sa=D&amp;source=calendar\">INDICO</a><br><br><b>Bring"
            "</b> badge &amp; ID<ul><li>Gate 1</li><li>CR7</li></ul>Notes: <a href=\"https://"
            "x.org/n\">https://x.org/n</a>")
    text = GOOGLE.read_text(encoding="utf-8").replace(
        "DESCRIPTION:Floating time: 09:00 in X-WR-TIMEZONE (EST)", f"DESCRIPTION:{html}")
    path = tmp_path / "html.ics"
    path.write_text(text, encoding="utf-8")
    cli.ok("import", "ics", str(path))
    got = events(cli)["1l3tqk7v0b6ue9e2c0c1h5l3ab@google.com"]["description"]
    assert got == ("Briefing for members\nRegister: INDICO (https://indico.un.org/event/1234)\n\n"
                   "Bring badge & ID\n\n- Gate 1\n- CR7\nNotes: https://x.org/n")
    plain = events(cli)["3r9fa0b2m4q5s6t7u8v9w0x1y2@google.com"]["description"]
    assert plain.endswith("Second line with Ünïcødé.")  # plain text stays as it was
