"""`/api/upcoming` over real HTTP: the public page's list as JSON, its filters and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers.cli import Cli
from tests.helpers.site import NOON_VIENNA, PUBLIC_ORDER, Site, season_site


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Iterator[Site]:
    with season_site(tmp_path, sqlite_url) as s:
        yield s


def get_json(site: Site, query: str = "") -> tuple[int, dict]:
    answer = site.get("/api/upcoming" + (f"?{query}" if query else ""))
    assert answer.headers["content-type"] == "application/json"
    return answer.status, json.loads(answer.body)


def test_same_list_as_the_public_page(site: Site) -> None:
    status, data = get_json(site)
    assert status == 200
    assert [i["id"] for i in data["items"]] == PUBLIC_ORDER
    assert data["generated"] == "2027-03-01T08:00:00Z"
    spring = next(i for i in data["items"] if i["id"] == "spring-gap")
    assert spring == spring | {
        "type": "deadline", "kind": "speakers-list", "status": "open", "cancelled": False,
        "tz": "Europe/Vienna", "due": "2027-03-22T12:00:00+01:00",
        "due_utc": "2027-03-22T11:00:00Z", "series": ["untoc-cop"],
        "instructions": "Send the speaker's name.", "url": "https://indico.un.org/",
        "ics": "/items/deadline/spring-gap.ics",
    }
    assert "due_local" not in spring
    called_off = next(i for i in data["items"] if i["id"] == "called-off")
    assert called_off["cancelled"] is True and called_off["due_date"] == "2027-04-01"
    session = next(i for i in data["items"] if i["id"] == "ccpcj-session")
    assert session["all_day"] is True and (session["start"], session["end"]) == (
        "2027-05-10", "2027-05-14")
    assert site.get(spring["ics"]).status == 200


@pytest.mark.parametrize(("zone", "column"), [("America/Halifax", 1), ("Asia/Karachi", 2)])
def test_tz_gives_each_time_in_that_zone(site: Site, zone: str, column: int) -> None:
    status, data = get_json(site, f"tz={zone}")
    assert status == 200 and data["tz"] == zone
    by_id = {i["id"]: i for i in data["items"]}
    for ident, row in NOON_VIENNA.items():
        local = datetime.fromisoformat(by_id[ident]["due_local"])
        assert local.strftime("%Y-%m-%d %H:%M") == f"{local:%Y-%m-%d} {row[column]}", ident
        assert local == datetime.fromisoformat(by_id[ident]["due"])  # the same instant


@pytest.mark.parametrize(("query", "expected"), [
    ("series=ccpcj", ["ccpcj-session", "autumn-gap", "winter"]),
    ("series=ccpcj&series=untoc-cop", PUBLIC_ORDER),
    ("series=ccpcj,untoc-cop", PUBLIC_ORDER),
    ("kind=registration", ["soon", "summer", "autumn-gap"]),
    ("kind=registration&kind=nomination", ["soon", "summer", "autumn-gap", "winter"]),
    ("kind=event", ["ccpcj-session"]),
    ("kind=event,speakers-list", ["spring-gap", "ccpcj-session"]),
    ("series=informal", []),  # members-only items are not public
    ("limit=2", ["soon", "spring-gap"]),
])
def test_filters(site: Site, query: str, expected: list[str]) -> None:
    status, data = get_json(site, query)
    assert status == 200
    assert [i["id"] for i in data["items"]] == expected


@pytest.mark.parametrize(("query", "field", "flag"), [
    ("tz=Mars/Olympus", "tz", "--tz"),
    ("tz=GMT%2B1", "tz", "--tz"),
    ("kind=party", "kind", "--kind"),
    ("series=Not%20OK!", "series", "--series"),
    ("limit=0", "limit", None),
    ("limit=ten", "limit", None),
])
def test_bad_values_are_400_with_the_clis_message(
    site: Site, tmp_path: Path, query: str, field: str, flag: str | None
) -> None:
    status, data = get_json(site, query)
    assert status == 400
    assert data["error"]["field"] == field
    if flag is None:
        assert "from 1 to 1000" in data["error"]["message"]
        return
    config = tmp_path / "cli" / "config.toml"
    config.parent.mkdir()
    config.write_text('[tracker]\ndatabase = "sqlite:///tracker.db"\n', encoding="utf-8")
    cli = Cli(config)
    cli.ok("init")
    value = {"tz": {"tz=Mars/Olympus": "Mars/Olympus", "tz=GMT%2B1": "GMT+1"}.get(query),
             "kind": "party", "series": "Not OK!"}[field]
    assert value is not None
    if field == "kind":  # the CLI's deadline list takes one kind; the API also takes "event"
        result = cli("deadline", "list", "--kind", value)
        expected = result.stderr.strip().removeprefix("error: --kind: ")
        assert expected.startswith("'party' is not accepted; use one of: registration")
        assert data["error"]["message"] == expected.replace("one of: ", "one of: event, ")
        return
    result = cli("member", "add", "x@example.org", flag, value)
    assert result.exit_code == 2
    assert data["error"]["message"] == result.stderr.strip().removeprefix(f"error: {flag}: ")
