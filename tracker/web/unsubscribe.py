"""One-click unsubscribe (RFC 8058) for `tracker serve`.

- GET  /unsubscribe/<token>: a small page with a button; it changes nothing, because link
  scanners and mail-security proxies follow GET links on their own.
- POST /unsubscribe/<token>: the mail client's one-click request (body
  ``List-Unsubscribe=One-Click``) or the page's button; stops reminder e-mail only
  (``members.mail``): the member stays active and their private calendar feed keeps working.
  Repeating it is harmless.
No cookies, no session: the unguessable per-member token is the only credential. An unknown or
tampered token is a plain 404 and changes nothing.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tracker.config import Config
from tracker.records.models import Member
from tracker.timeparse import utc_now
from tracker.web.safety import TOKEN, not_found, off_loop, web_session

log = logging.getLogger(__name__)
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="robots" content="noindex"></head>
<body style="font-family: sans-serif"><h1>{title}</h1>{body}</body></html>
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status,
                        headers={"Cache-Control": "no-store"})


def routes(config: Config, now_fn: Callable[[], datetime] = utc_now) -> list[Route]:
    """The unsubscribe routes, for `tracker.serve.create_app`."""
    url = config.database_url

    async def endpoint(request: Request) -> Response:
        token = request.path_params["token"]
        if not TOKEN.match(token):
            return not_found()
        if request.method == "POST":
            await request.body()  # RFC 8058 body or the form; the token alone decides
            return await off_loop(_unsubscribe, url, token, now_fn())
        return await off_loop(_confirm_page, url, token)

    return [Route("/unsubscribe/{token}", endpoint, methods=["GET", "POST"])]


def _confirm_page(url: str, token: str) -> Response:
    with web_session(url) as session:
        member = session.scalar(select(Member).where(Member.unsubscribe_token == token))
        if member is None:
            return not_found()
        address = html.escape(member.email)
    return _page(
        "Stop reminder e-mails?",
        f"<p>Stop all reminder e-mails to <strong>{address}</strong>? "
        "Your calendar subscription keeps working.</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" '
        'value="One-Click"><button type="submit">Unsubscribe</button></form>',
    )


def _unsubscribe(url: str, token: str, now: datetime) -> Response:
    with web_session(url) as session:
        member = session.scalar(select(Member).where(Member.unsubscribe_token == token))
        if member is None:
            return not_found()
        if member.mail:
            member.mail = False  # not `active`: their private feed stays
            member.modified_at = now  # the next scheduler round drops their pending reminders
            log.info("member %s unsubscribed from reminder e-mail", member.id)
        address = html.escape(member.email)
    return _page("Unsubscribed",
                 f"<p>{address} will get no more reminder e-mails. "
                 "Your calendar subscription keeps working.</p>")
