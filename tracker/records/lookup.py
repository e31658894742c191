"""Find records by id, e-mail or token, and pick free ids; every door reports a miss the same way."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import NotFound
from tracker.records.models import Deadline, Event, Member


def get_event(session: Session, event_id: str) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("event", f"no event with id '{event_id}'")
    return event


def unique_id(session: Session, model: type, base: str) -> str:
    """`base`, or `base-2`, `base-3`... whichever is free."""
    candidate, n = base, 1
    while session.get(model, candidate) is not None:
        n += 1
        candidate = f"{base[:75]}-{n}"
    return candidate


def get_deadline(session: Session, deadline_id: str) -> Deadline:
    deadline = session.get(Deadline, deadline_id)
    if deadline is None:
        raise NotFound("deadline", f"no deadline with id '{deadline_id}'")
    return deadline


def get_member(session: Session, email: str) -> Member:
    member = session.scalar(select(Member).where(Member.email == email.strip().lower()))
    if member is None:
        raise NotFound("email", f"no member with e-mail '{email}'")
    return member
