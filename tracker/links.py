"""Public URLs built from [tracker] base_url: private feeds and unsubscribe pages."""

from __future__ import annotations

import functools
import re
from urllib.parse import urljoin

# What secrets.token_urlsafe makes: nothing urljoin would read as a dot segment, a query, a
# fragment or a scheme, so joining the folder once and appending the token is the same URL.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def _base(base_url: str) -> str:
    return base_url if base_url.endswith("/") else base_url + "/"


@functools.lru_cache(maxsize=64)
def _folder(base_url: str, folder: str) -> str:
    return urljoin(_base(base_url), folder)


def _under(base_url: str, folder: str, token: str, suffix: str = "") -> str:
    """`urljoin(base_url/, folder + token + suffix)`, joined once per folder: every reminder
    mail has two of these links, and urljoin was 15 % of rendering the mail (profiled)."""
    if _TOKEN.fullmatch(token):
        return _folder(base_url, folder) + token + suffix
    return urljoin(_base(base_url), f"{folder}{token}{suffix}")


def feed_url(base_url: str, token: str) -> str:
    """A member's private feed: public and members-only items of the series they follow."""
    return _under(base_url, "feeds/", token, ".ics")


def member_page_url(base_url: str, token: str) -> str:
    """A member's own page (`/m/<token>`, the token of their reminder mail): their upcoming
    deadlines, their feed, their settings."""
    return _under(base_url, "m/", token)


def unsubscribe_url(base_url: str, token: str) -> str:
    return _under(base_url, "unsubscribe/", token)


def host_of(base_url: str) -> str:
    """The host name used in UIDs and Message-IDs."""
    from urllib.parse import urlsplit

    return urlsplit(base_url).hostname or "tracker.invalid"
