"""tracker.links: the URLs built from base_url are those urljoin makes, token by token."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker import links

BASES = ["http://localhost:8080/", "https://t.example.org", "https://example.org/alliance/",
         "https://example.org/alliance", "https://example.org/a/b/?x=1"]


def _joined(base: str, path: str) -> str:
    return urljoin(base if base.endswith("/") else base + "/", path)


@pytest.mark.parametrize("base", BASES)
@given(token=st.text(min_size=1, max_size=40))
def test_each_link_is_what_urljoin_makes(base: str, token: str) -> None:
    assert links.unsubscribe_url(base, token) == _joined(base, f"unsubscribe/{token}")
    assert links.member_page_url(base, token) == _joined(base, f"m/{token}")
    assert links.feed_url(base, token) == _joined(base, f"feeds/{token}.ics")


@pytest.mark.parametrize("token", ["abc-DEF_123", "..", "a/../b", "x?y", "x#y", "https:x", "."],
                         ids=["urlsafe", "dotdot", "dot-segment", "query", "fragment", "scheme",
                              "dot"])
def test_tokens_that_urljoin_reads_specially_are_joined_by_it(token: str) -> None:
    base = "https://example.org/alliance/"
    assert links.member_page_url(base, token) == urljoin(base, f"m/{token}")
