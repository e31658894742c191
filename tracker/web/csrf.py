"""CSRF tokens for the members' page forms: an HMAC of the member's page token and a server key.

A form on `/m/<token>` carries `csrf = HMAC-SHA256(key, "member-form|" + token)`. A page on
another site cannot read it (same-origin policy), so it cannot make a member's browser submit
a change; it needs no cookie and no session, and stays valid across restarts because the key
is kept in a file (`[serve] secret_file`, default `tracker.secret` beside config.toml), created
with mode 0600 on first use. Deleting the file invalidates forms that are open in browsers;
the member then reloads the page.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from threading import Lock

_lock = Lock()
_PURPOSE = b"member-form|"


def server_key(path: Path) -> bytes:
    """The key in `path`, created there (32 random bytes, hex, mode 0600) when missing.

    Creation is exclusive (O_EXCL): two processes starting together agree on one key.
    """
    with _lock:
        try:
            return _read(path)
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race
            return _read(path)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        return _read(path)


def _read(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    if len(text) < 32:
        raise ValueError(f"{path} holds no usable key (at least 32 characters); delete it")
    return text.encode("ascii")


def form_token(key: bytes, page_token: str) -> str:
    return hmac.new(key, _PURPOSE + page_token.encode("utf-8"), hashlib.sha256).hexdigest()


def valid(key: bytes, page_token: str, submitted: str | None) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    if not submitted:
        return False
    return hmac.compare_digest(form_token(key, page_token), submitted)
