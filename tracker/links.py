"""Public URLs built from [tracker] base_url: private feeds and unsubscribe pages."""

from __future__ import annotations

from urllib.parse import urljoin


def _base(base_url: str) -> str:
    return base_url if base_url.endswith("/") else base_url + "/"


def feed_url(base_url: str, token: str) -> str:
    """A member's private feed: public and members-only items of the series they follow."""
    return urljoin(_base(base_url), f"feeds/{token}.ics")


def member_page_url(base_url: str, token: str) -> str:
    """A member's own page (`/m/<token>`, the token of their reminder mail): their upcoming
    deadlines, their feed, their settings."""
    return urljoin(_base(base_url), f"m/{token}")


def unsubscribe_url(base_url: str, token: str) -> str:
    return urljoin(_base(base_url), f"unsubscribe/{token}")


def host_of(base_url: str) -> str:
    """The host name used in UIDs and Message-IDs."""
    from urllib.parse import urlsplit

    return urlsplit(base_url).hostname or "tracker.invalid"
