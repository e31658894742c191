"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright.

The browser's zone is set per context (`timezone_id`), so the page's script detects Halifax or
Karachi as a member's phone would. The deadlines are at noon Vienna in the weeks when Europe
and North America change clocks on different dates (22 March and 2 November 2027: Halifax is
on summer time, Vienna is not, so noon Vienna is 08:00 in Halifax instead of the usual 07:00),
plus one in summer and one in winter for contrast. Karachi has no DST: 16:00, or 15:00 while
Vienna is on summer time.

Screenshots go to $TRACKER_SCREENSHOTS when set (else the test's temporary folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.site import NOON_VIENNA, Site, member_row, page_token, season_site

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    pytestmark = pytest.mark.skip(reason="the playwright package is not installed "
                                  "(pip install -e '.[test]')")
else:
    if not CHROMIUM.exists():
        pytestmark = pytest.mark.skip(
            reason=f"Debian's chromium is not installed at {CHROMIUM} (.ci/run installs it: "
                   "apt-get install -y --no-install-recommends chromium)")

ZONES = {"America/Halifax": (1, "Halifax"), "Asia/Karachi": (2, "Karachi")}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str) -> Iterator[Site]:
    with season_site(tmp_path, sqlite_url) as s:
        yield s


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TRACKER_SCREENSHOTS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser: Browser, url: str, zone: str, **context: Any) -> Page:
    ctx = browser.new_context(timezone_id=zone, locale="en-GB", **context)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_load_state("load")
    assert not errors, errors
    return page


def viewer_text(page: Page, ident: str) -> str:
    viewer = page.locator(f"#deadline-{ident} .viewer")
    return viewer.inner_text() if viewer.is_visible() else ""


@pytest.mark.parametrize("zone", list(ZONES))
def test_public_page_shows_noon_vienna_in_the_browsers_zone(
    browser: Browser, site: Site, shots: Path, zone: str
) -> None:
    column, city = ZONES[zone]
    page = open_page(browser, site.base + "/", zone)
    try:
        assert page.locator("#zone-picker").input_value() == zone  # detected, not guessed
        for ident, row in NOON_VIENNA.items():
            assert viewer_text(page, ident) == f"= {row[column]} {city}", ident
            own = page.locator(f"#deadline-{ident} time.own").inner_text()
            assert "12:00 Vienna" in own
        page.screenshot(path=str(shots / f"public-{city.lower()}.png"), full_page=True)
    finally:
        page.context.close()


def test_zone_picker_is_remembered(browser: Browser, site: Site, shots: Path) -> None:
    page = open_page(browser, site.base + "/", "America/Halifax")
    try:
        page.select_option("#zone-picker", "Asia/Tokyo")
        # noon Vienna on 22 March is 20:00 in Tokyo; on 2 November too (both CET, JST fixed)
        assert viewer_text(page, "spring-gap") == "= 20:00 Tokyo"
        assert viewer_text(page, "summer") == "= 19:00 Tokyo"
        page.reload()
        page.wait_for_load_state("load")
        assert page.locator("#zone-picker").input_value() == "Asia/Tokyo"
        assert viewer_text(page, "autumn-gap") == "= 20:00 Tokyo"
        # Choosing the device's own zone again forgets the choice.
        page.select_option("#zone-picker", "America/Halifax")
        assert page.evaluate("localStorage.getItem('tracker.zone')") is None
        assert viewer_text(page, "spring-gap") == "= 08:00 Halifax"
    finally:
        page.context.close()


def test_without_javascript_item_zone_and_utc(browser: Browser, site: Site, shots: Path) -> None:
    page = open_page(browser, site.base + "/", "America/Halifax", java_script_enabled=False)
    try:
        item = page.locator("#deadline-spring-gap")
        text = " ".join(item.inner_text().split())
        assert "Mon 22 Mar 2027, 12:00 Vienna (CET)" in text and "= 11:00 UTC" in text
        assert "Halifax" not in text
        assert not page.locator("section.zone").is_visible()
        assert not page.locator("button.copy-button").first.is_visible()
        page.screenshot(path=str(shots / "public-no-javascript.png"), full_page=True)
    finally:
        page.context.close()


def test_phone_layout_fits_and_every_control_is_labelled(
    browser: Browser, site: Site, shots: Path
) -> None:
    token = page_token(site.url, "halifax@example.org")
    for path, name in (("/", "public"), (f"/m/{token}", "member")):
        page = open_page(browser, site.base + path, "America/Halifax",
                         viewport={"width": 360, "height": 740}, device_scale_factor=2,
                         is_mobile=True, has_touch=True)
        try:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{name}: the page is {width}px wide on a 360px phone"
            unlabelled = page.evaluate("""() => [...document.querySelectorAll(
                'input:not([type=hidden]), select, textarea')].filter(
                e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.outerHTML)""")
            assert unlabelled == [], unlabelled
            page.screenshot(path=str(shots / f"phone-{name}.png"), full_page=True)
        finally:
            page.context.close()


@pytest.mark.parametrize("zone", list(ZONES))
def test_member_page_in_their_zone_and_in_the_browsers(
    browser: Browser, site: Site, shots: Path, zone: str
) -> None:
    column, city = ZONES[zone]
    token = page_token(site.url, "halifax@example.org")  # Claire's zone: America/Halifax
    page = open_page(browser, f"{site.base}/m/{token}", zone)
    try:
        for ident, row in NOON_VIENNA.items():
            text = " ".join(page.locator(f"#deadline-{ident} .when").inner_text().split())
            assert f"= {row[1]} Halifax (ADT) (your zone)" in text \
                or f"= {row[1]} Halifax (AST) (your zone)" in text, (ident, text)
            # The browser's zone is added only where it is not the member's own.
            expected = "" if zone == "America/Halifax" else f"= {row[column]} {city}"
            assert viewer_text(page, ident) == expected, ident
        button = page.locator("button.use-browser-zone")
        assert button.is_visible() == (zone != "America/Halifax")
        page.screenshot(path=str(shots / f"member-browser-{city.lower()}.png"), full_page=True)
    finally:
        page.context.close()


def test_member_form_in_the_browser_changes_the_database(
    browser: Browser, site: Site, shots: Path
) -> None:
    token = page_token(site.url, "halifax@example.org")
    page = open_page(browser, f"{site.base}/m/{token}", "Asia/Karachi")
    try:
        # A bad zone first: the CLI's message on the page, nothing changed.
        before = member_row(site.url, "halifax@example.org")
        page.fill("#tz", "GMT+5")
        page.click("button.primary")
        page.wait_for_load_state("load")
        alert = page.locator("#tz-error").inner_text()
        assert alert.startswith("Time zone: 'GMT+5' is a fixed offset")
        assert page.locator("#tz").get_attribute("aria-invalid") == "true"
        page.screenshot(path=str(shots / "member-form-error.png"), full_page=True)
        assert member_row(site.url, "halifax@example.org") == before
        # Then the browser's zone, two series, own offsets, and no mail.
        page.click("button.use-browser-zone")
        assert page.locator("#tz").input_value() == "Asia/Karachi"
        page.check("input[name=series][value=untoc-cop]")
        page.check("input[name=series][value=informal]")
        page.fill("#remind", "7d,1d,2h")
        page.uncheck("input[name=mail]")
        page.click("button.primary")
        page.wait_for_load_state("load")
        assert "Saved: Time zone, Series, Reminder times, E-mail reminders." in \
            page.locator(".saved").inner_text()
        row = member_row(site.url, "halifax@example.org")
        assert (row["tz"], sorted(row["series"]), row["remind"], row["mail"], row["active"]) \
            == ("Asia/Karachi", ["informal", "untoc-cop"], "7d,1d,2h", False, True)
        # The page now lists their series in their new zone; the browser zone is theirs.
        when = " ".join(page.locator("#deadline-spring-gap .when").inner_text().split())
        assert "= 16:00 Karachi (PKT) (your zone)" in when
        assert viewer_text(page, "spring-gap") == ""
        assert page.locator("#deadline-autumn-gap").count() == 0  # ccpcj: not followed now
        page.screenshot(path=str(shots / "member-form-saved.png"), full_page=True)
    finally:
        page.context.close()
