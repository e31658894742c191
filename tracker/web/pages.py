"""The members' pages: `/` (what is coming, public) and `/m/<token>` (a member's own page).

- ``GET /``                  upcoming public deadlines and events, soonest first, filters by
                             series and kind (``?series=...&kind=...``), subscribe buttons for
                             every published feed;
- ``GET /m/<token>``         a member's upcoming items in their zone, their private feed with the
                             same buttons, and the form for zone, series, reminder offsets and mail;
- ``POST /m/<token>``        the form: CSRF token checked, then the values go through the records
                             service and its checks (the CLI's), then 303 back to the page; a bad
                             value re-shows the form with the CLI's message, nothing changed;
- ``GET /items/<type>/<id>.ics`` and ``/m/<token>/items/<type>/<id>.ics``: one item as a
                             calendar, rendered by the feeds renderer (the same VEVENT as the feeds);
- ``GET /static/page.css|page.js``: the page's own style and small script (no CDN, no fonts).

The page token is the member's unsubscribe token: it is already in every reminder mail (the
page's link sits beside the unsubscribe link), and it is not the private feed token, which
members paste into calendar apps and share with them; whoever holds the page sees the feed URL,
never the other way round. An unknown token is the same plain 404 as any other path.

Handlers that touch the database are plain functions: Starlette runs them in its thread pool,
so the event loop never waits on a query. The POST handler only awaits the body, then hands
the work to the thread pool.
"""

from __future__ import annotations

import functools
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit
from zoneinfo import available_timezones

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tracker import links
from tracker.config import KINDS, Config, packaged_templates
from tracker.errors import TrackerError
from tracker.feeds.render import (
    FeedItem,
    FeedSettings,
    item_from_deadline,
    item_from_event,
    render_calendar,
    visible,
)
from tracker.records.members import MemberInput, edit_member
from tracker.records.models import Deadline, Event, Member
from tracker.timeparse import iso_local, iso_utc
from tracker.web import csrf
from tracker.web.listing import (
    EVENT_KIND,
    LIST_KINDS,
    Entry,
    Filters,
    known_series,
    upcoming,
)
from tracker.web.safety import TOKEN, not_found, published_feeds, web_session
from tracker.web.timefmt import clock, countdown, other_clock, when_own, zone_label

log = logging.getLogger(__name__)
NowFn = Callable[[], datetime]
CALENDAR_TYPE = "text/calendar; charset=utf-8"
_ITEM = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}\.ics$")
_STATIC = {"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8"}
MAX_FORM_BYTES = 64 * 1024
VISIBLE_TO_MEMBERS = ("public", "members")
# The form's words for the fields the records services name (`tz` -> "Time zone").
FORM_LABELS = {"tz": "Time zone", "series": "Series", "remind": "Reminder times",
               "mail": "E-mail reminders"}
KIND_LABELS = {EVENT_KIND: "Event", **{k: k.replace("-", " ").capitalize() for k in KINDS}}
# Pages carry a member's token in their address: not cached, not sent on as a Referer, not
# framed by another site (clickjacking the form); only our own script and style run.
NO_STORE = {
    "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
}


def mail_input(wanted: bool) -> MemberInput:
    """The form's "send me reminder e-mails" box as a records change: the member's `mail` flag
    (reminder e-mail only; their private feed keeps working, as after unsubscribing)."""
    return MemberInput(mail=wanted)


def gets_mail(member: Member) -> bool:
    """Whether the member gets reminder mail (the read side of `mail_input`)."""
    return bool(member.mail)


@functools.lru_cache(maxsize=4)
def environment(folder: Path) -> Environment:
    """One Jinja2 environment per template folder: autoescaped HTML, StrictUndefined."""
    return Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False,
    )


def templates_dir() -> Path:
    return packaged_templates("web")


# --- what a page shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class Subscribe:
    """One feed with its subscribe links."""

    name: str
    https: str
    webcal: str
    google: str
    outlook: str


def subscribe_links(url: str, name: str) -> Subscribe:
    """webcal://, Google Calendar's and Outlook.com's subscribe-by-URL addresses for a feed.

    Google opens "add calendar from URL" for `calendar/r?cid=<webcal URL>`; Outlook.com for
    `calendar/0/addfromweb?url=<https URL>&name=<name>`.
    """
    parts = urlsplit(url)
    webcal = "webcal://" + url[len(parts.scheme) + 3:]
    return Subscribe(
        name=name, https=url, webcal=webcal,
        google="https://calendar.google.com/calendar/r?" + urlencode({"cid": webcal}),
        outlook="https://outlook.live.com/calendar/0/addfromweb?"
        + urlencode({"url": url, "name": name}, quote_via=quote),
    )


def public_feeds(config: Config) -> list[Subscribe]:
    """The published feed files, everything and deadlines first, then one per series."""
    names = published_feeds(config.calendars_dir)
    order = {"all.ics": 0, "deadlines.ics": 1}
    names.sort(key=lambda n: (order.get(n, 2), n))
    base = config.tracker.base_url.rstrip("/") + "/"
    title = config.calendars.name
    labels = {"all.ics": f"{title}: everything", "deadlines.ics": f"{title}: deadlines only"}
    return [subscribe_links(base + n, labels.get(n, f"{title}: {n.removesuffix('.ics')}"))
            for n in names]


@dataclass(frozen=True)
class FormValues:
    """The settings form's values: the member's, or what they submitted (shown again with the
    error when a value is refused)."""

    tz: str
    series: list[str]
    remind: str
    mail: bool


def item_view(entry: Entry, now: datetime, reader_tz: str | None, ics_url: str) -> dict[str, Any]:
    """Everything the template shows of one item, as text (times in every zone it needs)."""
    reader = None
    if reader_tz and reader_tz != entry.tz and not entry.all_day:
        reader = f"{other_clock(entry.start_utc, entry.tz, reader_tz)}"
    opens = None
    if entry.opens_utc is not None:
        opens = (f"{entry.opens_date:%a} {entry.opens_date.day} {entry.opens_date:%b %Y}"
                 if entry.opens_date else clock(entry.opens_utc, entry.tz))
    return {
        "type": entry.type, "id": entry.id, "title": entry.title, "kind": entry.kind,
        "kind_label": KIND_LABELS.get(entry.kind, entry.kind), "status": entry.status,
        "cancelled": entry.cancelled, "extended": entry.status == "extended",
        "tz": entry.tz, "zone": zone_label(entry.tz), "all_day": entry.all_day,
        "utc": iso_utc(entry.start_utc), "own": when_own(entry),
        "utc_text": other_clock(entry.start_utc, entry.tz, "UTC"),
        "reader": reader, "opens": opens,
        "countdown": countdown(entry.start_utc, now) if entry.is_deadline and not entry.cancelled
        else None,
        "instructions": entry.instructions, "url": entry.url, "email": entry.email,
        "location": entry.location, "mode": entry.mode, "series": entry.series,
        "event_title": entry.event_title, "ics_url": ics_url,
    }


def _render(config: Config, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    page = environment(templates_dir()).get_template(name).render(
        calendar_name=config.calendars.name, **values)
    return HTMLResponse(page, status_code=status, headers=NO_STORE)


def find_page_member(session: Session, token: str) -> Member | None:
    """The active member whose page token is `token` (compared in constant time). A member who
    stopped mail still has their page (to turn it back on); one the secretary made inactive (no
    longer a member) has none, as their private feed answers 404."""
    if not TOKEN.match(token or ""):
        return None
    member = session.scalar(select(Member).where(Member.unsubscribe_token == token))
    if member is None or not hmac.compare_digest(member.unsubscribe_token, token) \
            or not member.active:
        return None
    return member


# --- the handlers ---------------------------------------------------------------------------


class Pages:
    """The page handlers, holding the config and the clock."""

    def __init__(self, config: Config, now_fn: NowFn) -> None:
        self.config = config
        self.now_fn = now_fn
        self.settings = FeedSettings.from_config(config)
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = csrf.server_key(self.config.secret_path)
        return self._key

    def _base(self) -> str:
        return self.config.tracker.base_url.rstrip("/") + "/"

    def index(self, request: Request) -> Response:
        """`/`: what is coming, public items only."""
        now = self.now_fn()
        series = request.query_params.getlist("series")
        kinds = request.query_params.getlist("kind")
        error = None
        try:
            filters = Filters.parse([s for s in series if s], [k for k in kinds if k])
        except TrackerError as exc:
            error, filters = str(exc.at("", FILTER_LABELS.get(exc.field, exc.field))), Filters()
        with web_session(self.config.database_url) as session:
            entries = upcoming(session, now, filters=filters,
                               cancelled_days=self.settings.cancelled_days)
            tags = known_series(session)
        items = [item_view(e, now, None, f"/items/{e.type}/{e.id}.ics") for e in entries]
        return _render(
            self.config, "index.html.j2", status=400 if error else 200, items=items,
            feeds=public_feeds(self.config), series_options=tags,
            kind_options=[(k, KIND_LABELS[k]) for k in LIST_KINDS],
            chosen_series=filters.series[0] if filters.series else "",
            chosen_kind=filters.kinds[0] if filters.kinds else "", error=error,
            api_url="/api/upcoming",
        )

    def item_ics(self, request: Request) -> Response:
        """`/items/<type>/<id>.ics`: one public item as a calendar file."""
        return self._item_ics(request, ("public",))

    def member_item_ics(self, request: Request) -> Response:
        """`/m/<token>/items/<type>/<id>.ics`: one item the member may see."""
        with web_session(self.config.database_url) as session:
            if find_page_member(session, request.path_params["token"]) is None:
                return not_found()
        return self._item_ics(request, VISIBLE_TO_MEMBERS)

    def _item_ics(self, request: Request, visibilities: tuple[str, ...]) -> Response:
        kind, name = request.path_params["type"], request.path_params["name"]
        if kind not in ("event", "deadline") or not _ITEM.match(name):
            return not_found()
        now = self.now_fn()
        with web_session(self.config.database_url) as session:
            item = _feed_item(session, kind, name.removesuffix(".ics"))
        if item is None or item.visibility not in visibilities \
                or not visible(item, self.settings, now):
            return not_found()
        data = render_calendar([item], self.settings, now, name=item.title)
        filename = name  # the record id: safe ASCII by construction
        return Response(data, media_type=CALENDAR_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-cache"})

    def member_page(self, request: Request) -> Response:
        """`GET /m/<token>`."""
        token = request.path_params["token"]
        now = self.now_fn()
        with web_session(self.config.database_url) as session:
            member = find_page_member(session, token)
            if member is None:
                return not_found()
            saved = [f for f in request.query_params.get("saved", "").split(",") if f]
            return self._member_response(session, member, token, now, saved=saved)

    def _member_response(self, session: Session, member: Member, token: str, now: datetime, *,
                         saved: list[str] | None = None, errors: dict[str, str] | None = None,
                         form: FormValues | None = None, status: int = 200) -> Response:
        entries = upcoming(session, now, visibilities=VISIBLE_TO_MEMBERS, member=member,
                           cancelled_days=self.settings.cancelled_days)
        items = [item_view(e, now, member.tz, f"/m/{token}/items/{e.type}/{e.id}.ics")
                 for e in entries]
        feed = subscribe_links(links.feed_url(self.config.tracker.base_url, member.feed_token),
                               f"{self.config.calendars.name} ({member.name or member.email})")
        tags = sorted(set(known_series(session, VISIBLE_TO_MEMBERS)) | set(member.series))
        values = form or FormValues(tz=member.tz, series=list(member.series),
                                    remind=member.remind or "", mail=gets_mail(member))
        return _render(
            self.config, "member.html.j2", status=status, member=member,
            member_zone=zone_label(member.tz), items=items, feed=feed, series_options=tags,
            values=values, errors=errors or {}, saved=[FORM_LABELS.get(f, f) for f in saved or []],
            csrf=csrf.form_token(self.key, token), zones=_zones(),
            default_offsets=", ".join(self.config.reminders.offsets),
            local_hour=self.config.reminders.local_hour,
            action=f"/m/{token}", gets_mail=gets_mail(member),
            modified=iso_local(member.modified_at, member.tz),
        )

    async def member_post(self, request: Request) -> Response:
        """`POST /m/<token>`: read the body here, do the work in the thread pool."""
        body = await _read_body(request)
        if body is None:
            return PlainTextResponse("Request too large", status_code=413)
        return await run_in_threadpool(self._member_post, request.path_params["token"], body)

    def _member_post(self, token: str, body: bytes) -> Response:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        form = FormValues(tz=_first(fields, "tz") or "", series=fields.get("series", []),
                          remind=_first(fields, "remind") or "",
                          mail=_first(fields, "mail") == "yes")
        now = self.now_fn()
        try:
            with web_session(self.config.database_url) as session:  # one transaction
                member = find_page_member(session, token)
                if member is None:
                    return not_found()
                if not csrf.valid(self.key, token, _first(fields, "csrf")):
                    log.info("member page form for member %s refused: bad CSRF token",
                             member.id)
                    return _render(self.config, "refused.html.j2", status=403,
                                   page_url=f"/m/{token}")
                values = replace(mail_input(form.mail), tz=form.tz,
                                 series=_keep_order(form.series, list(member.series)),
                                 remind=form.remind)
                changed = edit_member(session, member.email, values, now=now)
                if changed:
                    log.info("member %s changed %s on their page", member.id,
                             ", ".join(changed))
        except TrackerError as exc:  # the transaction was rolled back: nothing written
            label = FORM_LABELS.get(exc.field, exc.field)
            with web_session(self.config.database_url) as session:
                member = find_page_member(session, token)
                if member is None:
                    return not_found()
                return self._member_response(
                    session, member, token, now, errors={exc.field: f"{label}: {exc.message}"},
                    form=form, status=400)
        query = "?" + urlencode({"saved": ",".join(changed) or "nothing"})
        return RedirectResponse(f"/m/{token}{query}", status_code=303)

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        media = _STATIC.get(name)
        if media is None:
            return not_found()
        data = (templates_dir() / name).read_bytes()
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=300"})


FILTER_LABELS = {"series": "Series", "kind": "Kind"}


def _keep_order(ticked: list[str], current: list[str]) -> list[str]:
    """The ticked tags in the member's own order, new ones after: the boxes are listed
    alphabetically, and saving an unchanged form must not count as a change of series."""
    rank = {tag: i for i, tag in enumerate(current)}
    return sorted(ticked, key=lambda tag: rank.get(tag, len(rank)))


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None when it is larger than a form can be."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@functools.lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    """IANA zone names for the form's suggestions (legacy and fixed-offset names left out)."""
    return tuple(sorted(z for z in available_timezones()
                        if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/"))))


def _feed_item(session: Session, kind: str, record_id: str) -> FeedItem | None:
    if kind == "event":
        event = session.get(Event, record_id)
        return item_from_event(event) if event is not None else None
    deadline = session.get(Deadline, record_id)
    return item_from_deadline(deadline) if deadline is not None else None


def routes(config: Config, now_fn: NowFn) -> list[Route]:
    """The page routes, for `tracker.web.app.create_app`."""
    pages = Pages(config, now_fn)
    return [
        Route("/", pages.index, methods=["GET"]),
        Route("/static/{name}", pages.static, methods=["GET"]),
        Route("/items/{type}/{name}", pages.item_ics, methods=["GET"]),
        Route("/m/{token}", pages.member_page, methods=["GET"]),
        Route("/m/{token}", pages.member_post, methods=["POST"]),
        Route("/m/{token}/items/{type}/{name}", pages.member_item_ics, methods=["GET"]),
    ]
