"""What the planner will send, beyond the outbox's short horizon: `tracker remind plan`.

The outbox holds rows only `sync.HORIZON` ahead, so right after `deadline add` it shows
nothing. This asks the pure planner directly for every (member, offset) of the chosen
deadlines, and marks each moment with what the outbox already did about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tracker.config import Config
from tracker.records.lookup import get_deadline, get_member
from tracker.records.models import Deadline, Member
from tracker.reminders.planner import DeadlineView, MemberView, ReminderSettings, plan
from tracker.reminders.tables import OutboxRow

# Outbox state -> what `remind plan` says; a moment without a row is "planned".
SHOWN_STATE = {"pending": "queued", "claimed": "sending", "sent": "sent", "skipped": "skipped",
               "failed": "failed"}


@dataclass(frozen=True)
class PlannedReminder:
    deadline_id: str
    deadline_title: str
    email: str
    member_tz: str
    offset: str
    at: datetime  # UTC
    state: str  # planned | queued | sending | sent | skipped | failed


def reminder_plan(
    session: Session, config: Config, now: datetime, deadline_id: str | None = None,
    email: str | None = None,
) -> list[PlannedReminder]:
    """Every reminder of the deadline(s) still ahead, with the outbox's state of each, by time.

    Without `deadline_id`: every deadline not yet due and not cancelled. Reminders already
    sent (or skipped, failed) for these deadlines are included whatever the plan says now.
    """
    if deadline_id is not None:
        deadlines = [get_deadline(session, deadline_id)]
    else:
        deadlines = list(session.scalars(
            select(Deadline).options(selectinload(Deadline.event))
            .where(Deadline.due_utc > now, Deadline.status != "cancelled")
            .order_by(Deadline.due_utc, Deadline.id)))
    if email is not None:
        members = [get_member(session, email)]
    else:
        members = list(session.scalars(select(Member).where(Member.active.is_(True))))
    by_id = {m.id: m for m in members}
    views = [MemberView(m.id, m.tz, tuple(m.series or ()), tuple(m.kinds or ()), m.remind,
                        m.active) for m in members]
    settings = ReminderSettings.from_config(config.reminders)
    found: list[PlannedReminder] = []
    for deadline in deadlines:
        rows = _rows(session, deadline.id, list(by_id))
        view = DeadlineView(deadline.id, deadline.kind, tuple(deadline.all_series),
                            deadline.due_utc, deadline.remind, deadline.status)
        moments = plan(view, views, settings, now)
        keys = set(moments) | set(rows)
        for member_id, offset in keys:
            member = by_id[member_id]
            state, at = rows.get((member_id, offset), ("planned", moments.get((member_id, offset))))
            assert at is not None
            found.append(PlannedReminder(deadline.id, deadline.title, member.email, member.tz,
                                         offset, at, state))
    return sorted(found, key=lambda r: (r.at, r.deadline_id, r.email, r.offset))


def _rows(session: Session, deadline_id: str, member_ids: list[int],
          ) -> dict[tuple[int, str], tuple[str, datetime]]:
    """(member, offset) -> (shown state, moment) of the reminder rows the outbox holds."""
    r = OutboxRow
    query = (select(r.member_id, r.slot, r.state, r.due_at, r.sent_at)
             .where(r.deadline_id == deadline_id, r.kind == "reminder")
             .where(r.member_id.in_(member_ids)))
    return {(m, slot): (SHOWN_STATE.get(state, state), sent_at or due_at)
            for m, slot, state, due_at, sent_at in session.execute(query)}
