"""Members and deadlines for the reminder tests, created through the lead's service functions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from tracker.config import Config, build_config
from tracker.db.engine import session_scope
from tracker.records.deadlines import DeadlineInput, add_deadline
from tracker.records.members import MemberInput, add_member

ZONES = ["America/Halifax", "Asia/Karachi", "Africa/Lagos", "America/New_York", "Asia/Tokyo",
         "Europe/Vienna"]


def make_config(base: Path, db_url: str, **mail: object) -> Config:
    """A config on `db_url` whose mail goes to the outbox folder (or what `mail` says)."""
    raw: dict[str, object] = {
        "tracker": {"database": db_url, "base_url": "https://tracker.example.org/"},
        "mail": {"backend": "outbox", "outbox_dir": "outbox", **mail},
    }
    return build_config(raw, base_dir=base)


def with_quiet(config: Config, minutes: int) -> Config:
    return replace(config, reminders=replace(config.reminders, quiet_minutes=minutes))


def add_members(url: str, now: datetime, count: int, zones: Iterable[str] = ZONES,
                **values: object) -> list[str]:
    zones = list(zones)
    emails = []
    with session_scope(url) as s:
        for i in range(count):
            email = f"m{i:04d}@example.net"
            add_member(s, email, MemberInput(name=f"Member {i}", tz=zones[i % len(zones)],
                                             **values),  # type: ignore[arg-type]
                       default_tz="Europe/Vienna", now=now)
            emails.append(email)
    return emails


def add_deadline_at(url: str, now: datetime, deadline_id: str, due: str, **values: object) -> None:
    values.setdefault("kind", "registration")
    with session_scope(url) as s:
        add_deadline(s, DeadlineInput(title=values.pop("title", f"Register for {deadline_id}"),  # type: ignore[arg-type]
                                      due=due, tz=values.pop("tz", "Europe/Vienna"),  # type: ignore[arg-type]
                                      url="https://indico.un.org/event/1/", **values),  # type: ignore[arg-type]
                     deadline_id=deadline_id, default_tz="Europe/Vienna",
                     host="tracker.example.org", now=now)
