"""The members' pages over real HTTP: `/`, `/m/<token>` and its form, item .ics downloads."""

from __future__ import annotations

import html
import os
import re
import stat
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from icalendar import Calendar

from tests.helpers.cli import Cli
from tests.helpers.site import (
    NOW,
    PUBLIC_ORDER,
    Site,
    member_row,
    page_token,
    season_site,
    serving,
)
from tracker.db.engine import session_scope
from tracker.feeds.render import FeedSettings, item_from_deadline, render_calendar
from tracker.records.lookup import get_deadline
from tracker.web import csrf


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Iterator[Site]:
    with season_site(tmp_path, sqlite_url) as s:
        yield s


class Items(HTMLParser):
    """The listed items of a page: ids in order, and the text of each."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.text: dict[str, str] = {}
        self.classes: dict[str, str] = {}
        self._current: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "li" and "item" in (a.get("class") or "").split():
            ident = (a.get("id") or "").split("-", 1)[1]
            self.ids.append(ident)
            self.text[ident] = ""
            self.classes[ident] = a.get("class") or ""
            self._current, self._depth = ident, 0
        if self._current and tag == "li":
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._current and tag == "li":
            self._depth -= 1
            if self._depth == 0:
                self._current = None

    def handle_data(self, data: str) -> None:
        if self._current:
            self.text[self._current] += data


def items(html: str) -> Items:
    parser = Items()
    parser.feed(html)
    return parser


def form_fields(html: str) -> dict[str, str]:
    """name -> value of the hidden/text inputs of the page's form."""
    return {m.group(1): m.group(2) for m in
            re.finditer(r'<input[^>]*name="([a-z]+)"[^>]*value="([^"]*)"', html)}


# --- the public page ---------------------------------------------------------------------------


def test_public_page_lists_upcoming_public_items_soonest_first(site: Site) -> None:
    page = site.get("/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    found = items(page.text)
    # Past, members-only, and cancelled-long-ago items are not on the public page.
    assert found.ids == PUBLIC_ORDER
    assert "cancelled" in found.classes["called-off"].split()
    assert "<s>Deadline called-off</s>" in page.text
    assert "Cancelled" in found.text["called-off"]
    # The countdown: only for deadlines within 14 days.
    assert "closes in 4 days, 3 hours" in found.text["soon"]
    assert "closes in" not in found.text["spring-gap"]
    assert "Send the speaker's name." in found.text["spring-gap"]


def test_without_javascript_times_show_in_the_items_zone_and_utc(site: Site) -> None:
    found = items(site.get("/").text)
    text = " ".join(found.text["spring-gap"].split())
    assert "Mon 22 Mar 2027, 12:00 Vienna (CET)" in text and "= 11:00 UTC" in text
    summer = " ".join(found.text["summer"].split())
    assert "Mon 14 Jun 2027, 12:00 Vienna (CEST)" in summer and "= 10:00 UTC" in summer
    event = " ".join(found.text["ccpcj-session"].split())
    assert "Mon 10 May 2027 – Fri 14 May 2027 (all day, Vienna)" in event
    assert "UTC" not in event  # an all-day event has dates, not instants


@pytest.mark.parametrize(("query", "expected"), [
    ("series=ccpcj", ["ccpcj-session", "autumn-gap", "winter"]),
    ("kind=registration", ["soon", "summer", "autumn-gap"]),
    ("kind=event", ["ccpcj-session"]),
    ("series=ccpcj&kind=registration", ["autumn-gap"]),
    ("series=nothing-here", []),
])
def test_filters_by_series_and_kind(site: Site, query: str, expected: list[str]) -> None:
    page = site.get("/?" + query)
    assert page.status == 200
    assert items(page.text).ids == expected


def test_a_bad_filter_says_what_is_accepted(site: Site) -> None:
    page = site.get("/?kind=party")
    assert page.status == 400
    assert "Kind: &#39;party&#39; is not accepted; use one of: event, registration" in page.text


def test_subscribe_buttons_for_every_feed(site: Site) -> None:
    page = site.get("/").text
    https = "https://tracker.example.org/all.ics"
    assert f'value="{https}"' in page
    assert 'href="webcal://tracker.example.org/all.ics"' in page
    google = re.search(r'href="(https://calendar\.google\.com/[^"]+)"', page)
    assert google is not None
    g = urlsplit(google.group(1).replace("&amp;", "&"))
    assert g.path == "/calendar/r" and parse_qs(g.query)["cid"] == ["webcal://tracker.example.org/all.ics"]
    outlook = re.search(r'href="(https://outlook\.live\.com/[^"]+)"', page)
    assert outlook is not None
    o = urlsplit(outlook.group(1).replace("&amp;", "&"))
    assert o.path == "/calendar/0/addfromweb"
    assert parse_qs(o.query)["url"] == [https]
    assert parse_qs(o.query)["name"] == ["Alliance events and deadlines: everything"]
    for name in ("deadlines.ics", "untoc-cop.ics", "ccpcj.ics"):
        assert f'value="https://tracker.example.org/{name}"' in page
        assert site.get("/" + name).status == 200  # the buttons point at feeds that are served


def test_download_ics_is_one_vevent_from_the_feeds_renderer(site: Site) -> None:
    answer = site.get("/items/deadline/spring-gap.ics")
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert 'filename="spring-gap.ics"' in answer.headers["content-disposition"]
    with session_scope(site.url) as s:
        expected = render_calendar([item_from_deadline(get_deadline(s, "spring-gap"))],
                                   FeedSettings.from_config(site.config), NOW,
                                   name="Deadline spring-gap")
    assert answer.body == expected
    cal = Calendar.from_ical(answer.body)
    events = cal.walk("VEVENT")
    assert len(events) == 1 and str(events[0]["UID"]) == "spring-gap.deadline@tracker.example.org"
    assert events[0].decoded("DTSTART").isoformat() == "2027-03-22T12:00:00+01:00"
    page = site.get("/").text
    assert 'href="/items/deadline/spring-gap.ics"' in page
    assert 'href="/items/event/ccpcj-session.ics"' in page


@pytest.mark.parametrize("path", [
    "/items/event/members-meeting.ics",  # members-only: not public
    "/items/deadline/long-gone.ics",  # cancelled long ago: out of the feeds
    "/items/deadline/nosuch.ics",
    "/items/party/spring-gap.ics",
    "/items/deadline/spring-gap",
    "/items/deadline/..%2Fall.ics",
])
def test_download_ics_404s(site: Site, path: str) -> None:
    answer = site.get(path)
    assert answer.status == 404 and answer.body == b"Not Found"


def test_static_files_and_no_external_resources(site: Site) -> None:
    page = site.get("/").text
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        if url.startswith(("http://", "https://", "//")):
            # Only the subscribe buttons and item links leave the site, never a script or style.
            assert not url.endswith((".js", ".css", ".woff", ".woff2")), url
    assert re.search(r'<script src="/static/page.js"', page)
    assert site.get("/static/page.js").headers["content-type"].startswith("text/javascript")
    assert site.get("/static/page.css").status == 200
    headers = site.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert site.get("/static/secret.txt").status == 404
    assert "@import" not in site.get("/static/page.css").text
    assert "fonts.googleapis" not in page


# --- a member's page -------------------------------------------------------------------------


def test_member_page_lists_their_items_in_their_zone(site: Site) -> None:
    token = page_token(site.url, "halifax@example.org")
    page = site.get(f"/m/{token}")
    assert page.status == 200 and page.headers["cache-control"] == "no-store"
    found = items(page.text)
    # Public and members-only items, every series (Claire follows all).
    assert found.ids == ["soon", "members-meeting", "members-fee", "spring-gap", "called-off",
                         "ccpcj-session", "summer", "autumn-gap", "winter"]
    spring = " ".join(found.text["spring-gap"].split())
    assert "12:00 Vienna (CET)" in spring and "= 08:00 Halifax (ADT) (your zone)" in spring
    autumn = " ".join(found.text["autumn-gap"].split())
    assert "12:00 Vienna (CET)" in autumn and "= 08:00 Halifax (ADT)" in autumn
    summer = " ".join(found.text["summer"].split())
    assert "= 07:00 Halifax (ADT)" in summer
    # Their private feed, with the same buttons.
    with session_scope(site.url) as s:
        from tracker.records.lookup import get_member
        feed = get_member(s, "halifax@example.org").feed_token
    assert f'value="https://tracker.example.org/feeds/{feed}.ics"' in page.text
    assert f'href="webcal://tracker.example.org/feeds/{feed}.ics"' in page.text
    assert site.get(f"/feeds/{feed}.ics").status == 200
    # A members-only item downloads from the member's page, not from the public path.
    assert site.get(f"/m/{token}/items/event/members-meeting.ics").status == 200
    assert site.get("/items/event/members-meeting.ics").status == 404
    assert site.get(f"/m/{'x' * 32}/items/event/members-meeting.ics").status == 404


def test_member_page_follows_their_series(site: Site) -> None:
    page = site.get(f"/m/{page_token(site.url, 'karachi@example.org')}")
    found = items(page.text)
    assert found.ids == ["soon", "spring-gap", "called-off", "summer"]  # untoc-cop only
    spring = " ".join(found.text["spring-gap"].split())
    assert "= 16:00 Karachi (PKT) (your zone)" in spring


@pytest.mark.parametrize("token", [
    "x" * 32,  # well-formed, unknown
    "short",
    "a" * 70,
    "..%2F..%2Fetc",
])
def test_unknown_token_is_404_and_changes_nothing(site: Site, token: str) -> None:
    before = member_row(site.url, "halifax@example.org")
    assert site.get(f"/m/{token}").status == 404
    answer = site.post(f"/m/{token}", urlencode({"tz": "Asia/Tokyo", "csrf": "x"}).encode())
    assert answer.status == 404 and answer.body == b"Not Found"
    assert member_row(site.url, "halifax@example.org") == before


def test_a_member_made_inactive_has_no_page(site: Site, tmp_path: Path) -> None:
    token = page_token(site.url, "halifax@example.org")
    config = tmp_path / "config.toml"
    config.write_text(f'[tracker]\ndatabase = "{site.config.tracker.database}"\n',
                      encoding="utf-8")
    Cli(config).ok("member", "edit", "halifax@example.org", "--inactive")
    before = member_row(site.url, "halifax@example.org")
    assert site.get(f"/m/{token}").status == 404
    assert site.post(f"/m/{token}", b"mail=yes&tz=Asia/Tokyo").status == 404
    assert member_row(site.url, "halifax@example.org") == before
    # Unsubscribing from mail is not that: the page stays.
    Cli(config).ok("member", "edit", "halifax@example.org", "--active", "--no-mail")
    assert site.get(f"/m/{token}").status == 200


def test_the_feed_token_does_not_open_the_page(site: Site) -> None:
    with session_scope(site.url) as s:
        from tracker.records.lookup import get_member
        feed = get_member(s, "halifax@example.org").feed_token
    assert site.get(f"/m/{feed}").status == 404


def checked(html: str, name: str) -> list[str]:
    return re.findall(rf'<input type="checkbox" name="{name}" value="([^"]*)" checked>', html)


def _form(site: Site, token: str, **values: object) -> bytes:
    """The page's form as a browser would send it, with `values` changed (None: left out)."""
    page = site.get(f"/m/{token}").text
    fields = form_fields(page)
    data: dict[str, object] = {"csrf": fields["csrf"], "tz": fields["tz"],
                               "series": checked(page, "series"),
                               "remind": fields.get("remind", ""), "mail": "yes"}
    data.update(values)
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        if value is None:
            continue
        for v in (value if isinstance(value, list) else [value]):
            pairs.append((key, str(v)))
    return urlencode(pairs).encode()


def test_form_changes_go_through_the_records_service(site: Site) -> None:
    token = page_token(site.url, "halifax@example.org")
    before = member_row(site.url, "halifax@example.org")
    body = _form(site, token, tz="Asia/Karachi", series=["untoc-cop", "ccpcj"], remind="7d, 2h",
                 mail=None)
    answer = site.post(f"/m/{token}", body)
    assert answer.status == 303
    location = answer.headers["location"]
    assert location.startswith(f"/m/{token}?saved=")
    after = member_row(site.url, "halifax@example.org")
    assert after["tz"] == "Asia/Karachi"
    assert after["series"] == ["untoc-cop", "ccpcj"]
    assert after["remind"] == "7d,2h"  # normalised by the same check as the CLI
    assert after["mail"] is False  # the box was not ticked: no more mail,
    assert after["active"] is True  # but still a member: the private feed keeps working
    assert site.get(f"/feeds/{after['feed_token']}.ics").status == 200
    assert after["feed_token"] == before["feed_token"]
    shown = site.get(location).text
    assert "Saved: Time zone, Series, Reminder times, E-mail reminders." in shown
    assert 'name="mail" value="yes">' in shown  # unticked now
    # The same form sent again changes nothing.
    assert site.post(f"/m/{token}", _form(site, token, mail=None)).headers["location"] \
        .endswith("saved=nothing")
    # And mail can be turned back on from the page (a member without mail still has a page).
    site.post(f"/m/{token}", _form(site, token, mail="yes"))
    assert member_row(site.url, "halifax@example.org")["mail"] is True
    # No series ticked: every series again.
    site.post(f"/m/{token}", _form(site, token, series=[]))
    assert member_row(site.url, "halifax@example.org")["series"] == []


@pytest.mark.parametrize(("field", "value", "flag", "label"), [
    ("tz", "Mars/Olympus", "--tz", "Time zone"),
    ("tz", "GMT+1", "--tz", "Time zone"),
    ("tz", "europe/vienna ", "--tz", "Time zone"),
    ("remind", "3 weeks", "--remind", "Reminder times"),
    ("remind", "0d", "--remind", "Reminder times"),
    ("series", "Not A Tag!", "--series", "Series"),
])
def test_a_bad_value_shows_the_clis_message_and_changes_nothing(
    site: Site, tmp_path: Path, field: str, value: str, flag: str, label: str
) -> None:
    token = page_token(site.url, "halifax@example.org")
    before = member_row(site.url, "halifax@example.org")
    # Valid values in the other fields: the bad one must stop all of them.
    body = _form(site, token, **{"tz": "Asia/Tokyo", "remind": "1d", "mail": None,
                                 field: value if field != "series" else [value]})
    answer = site.post(f"/m/{token}", body)
    assert answer.status == 400
    assert member_row(site.url, "halifax@example.org") == before
    # The CLI's message for the same value, with the field named as the form names it.
    config = tmp_path / "cli" / "config.toml"
    config.parent.mkdir()
    config.write_text('[tracker]\ndatabase = "sqlite:///tracker.db"\n', encoding="utf-8")
    cli = Cli(config)
    cli.ok("init")
    cli.ok("member", "add", "x@example.org")
    result = cli("member", "edit", "x@example.org", flag, value)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    message = line.removeprefix(f"error: {flag}: ")
    assert message != line
    assert f"{label}: {message}" in html.unescape(answer.text)
    # The form shows what was typed, marked invalid, so the member can correct it.
    if field != "series":
        assert 'aria-invalid="true"' in answer.text
        assert f'value="{html.escape(value)}"' in answer.text


@pytest.mark.parametrize("csrf_value", [None, "", "0" * 64, "other-member"])
def test_csrf_failures_change_nothing(site: Site, csrf_value: str | None) -> None:
    token = page_token(site.url, "halifax@example.org")
    other = page_token(site.url, "karachi@example.org")
    if csrf_value == "other-member":  # a valid token of another member's page
        csrf_value = form_fields(site.get(f"/m/{other}").text)["csrf"]
    before = member_row(site.url, "halifax@example.org")
    pairs = [("tz", "Asia/Tokyo"), ("remind", "1d"), ("mail", "yes")]
    if csrf_value is not None:
        pairs.append(("csrf", csrf_value))
    answer = site.post(f"/m/{token}", urlencode(pairs).encode())
    assert answer.status == 403
    assert "nothing was changed" in answer.text
    assert member_row(site.url, "halifax@example.org") == before


def test_a_body_larger_than_a_form_is_refused(site: Site) -> None:
    token = page_token(site.url, "halifax@example.org")
    before = member_row(site.url, "halifax@example.org")
    answer = site.post(f"/m/{token}", b"tz=" + b"A" * 100_000)
    assert answer.status == 413
    assert member_row(site.url, "halifax@example.org") == before


def test_the_form_key_persists_across_restarts(site: Site) -> None:
    token = page_token(site.url, "halifax@example.org")
    fields = form_fields(site.get(f"/m/{token}").text)
    key_file = site.config.secret_path
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert fields["csrf"] == csrf.form_token(key_file.read_text().strip().encode(), token)
    # A second server (a restart) accepts the form the first one gave out.
    with serving(site.config) as base:
        restarted = Site(base, site.config, site.url)
        body = urlencode({"csrf": fields["csrf"], "tz": "Africa/Lagos", "mail": "yes"}).encode()
        assert restarted.post(f"/m/{token}", body).status == 303
    assert member_row(site.url, "halifax@example.org")["tz"] == "Africa/Lagos"
    # Deleting the key: open forms stop working, a fresh key is made.
    os.unlink(key_file)
    with serving(site.config) as base:
        fresh = Site(base, site.config, site.url)
        assert fresh.post(f"/m/{token}", body).status == 403
        assert form_fields(fresh.get(f"/m/{token}").text)["csrf"] != fields["csrf"]


def test_member_page_link_in_member_show_and_in_reminder_mail(site: Site, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[tracker]\ndatabase = "{site.config.tracker.database}"\n'
                      'base_url = "https://tracker.example.org/"\n', encoding="utf-8")
    cli = Cli(config)
    token = page_token(site.url, "halifax@example.org")
    shown = cli.ok("member", "show", "halifax@example.org", "--json").output
    assert f'"page_url": "https://tracker.example.org/m/{token}"' in shown
    mail = cli.ok("remind", "preview", "spring-gap", "--member", "halifax@example.org").output
    assert f"https://tracker.example.org/m/{token}" in mail
    assert site.get(f"/m/{token}").status == 200
