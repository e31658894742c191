"""Deleting events and deadlines recorded by mistake, with the reminders not yet sent.

Rows already sent, skipped or failed stay in the outbox as history (`remind status` counts
them; migration 0008 let them outlive the deadline). Feeds drop the items on the next publish.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from tracker.records import deadlines as dl
from tracker.records import events as ev
from tracker.reminders.tables import OutboxRow

UNSENT = ("pending", "claimed")


@dataclass(frozen=True)
class Removed:
    kind: str  # "event" or "deadline"
    id: str
    title: str
    deadlines: tuple[str, ...]  # an event's deadlines, deleted with it
    dropped_reminders: int  # pending reminders and notices that will not go out


def _drop_unsent(session: Session, deadline_ids: list[str]) -> int:
    if not deadline_ids:
        return 0
    result = session.execute(
        delete(OutboxRow).where(OutboxRow.deadline_id.in_(deadline_ids),
                                OutboxRow.state.in_(UNSENT)))
    return int(getattr(result, "rowcount", 0) or 0)


def delete_deadline(session: Session, deadline_id: str) -> Removed:
    deadline = dl.delete_deadline(session, deadline_id)
    return Removed("deadline", deadline.id, deadline.title, (),
                   _drop_unsent(session, [deadline.id]))


def delete_event(session: Session, event_id: str) -> Removed:
    event, deadlines = ev.delete_event(session, event_id)
    return Removed("event", event.id, event.title, tuple(deadlines),
                   _drop_unsent(session, deadlines))
