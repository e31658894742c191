"""Outbox tables: reminder and notice rows (the truth about what is sent), plus plan markers.

``reminders`` holds one row per (member, deadline, slot). The slot is the offset for a reminder
("14d") and ``n<generation>`` for a change notice, so the database itself refuses a second row
for the same reminder or the same notice generation (several schedulers may race to insert).

The two marker tables make planning incremental: ``reminder_plans`` records, per deadline, the
state it was last planned at (sequence, due, status, ...) and how far ahead rows exist;
``member_plans`` records, per member, the ``modified_at``/``active`` it was last planned at.
A round only plans what differs from its marker, and rows are materialised only a short horizon
ahead, so 100,000 members x 50,000 deadlines never becomes billions of rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracker.db.base import Base

STATES = ("pending", "claimed", "sent", "skipped", "failed")
KINDS = ("reminder", "moved", "cancelled")


class OutboxRow(Base):
    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("member_id", "deadline_id", "slot", name="uq_reminders_key"),
        Index("ix_reminders_due", "state", "next_attempt_at", "id"),  # the claim's order
        Index("ix_reminders_deadline", "deadline_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12))  # reminder | moved | cancelled
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    # No foreign key (0008): sent/skipped/failed rows outlive a deleted deadline as history.
    deadline_id: Mapped[str] = mapped_column(String(100))
    slot: Mapped[str] = mapped_column(String(20))  # "14d" or "n3" (notice generation 3)
    seq: Mapped[int] = mapped_column(Integer, default=0)  # deadline sequence when queued
    due_at: Mapped[datetime]
    # A "moved" notice: the due moment followers knew before the change ("was due ...").
    was_due_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# The Core table of OutboxRow, for bulk UPDATEs by id (executemany) that skip the ORM.
# Declarative types `__table__` as any FromClause; for a class mapped by __tablename__ it is
# always this Table.
OUTBOX = cast(Table, OutboxRow.__table__)


class DeadlinePlan(Base):
    __tablename__ = "reminder_plans"

    deadline_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("deadlines.id", ondelete="CASCADE"), primary_key=True
    )
    sequence: Mapped[int] = mapped_column(Integer)
    event_sequence: Mapped[int] = mapped_column(Integer, default=-1)
    due_utc: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    settings: Mapped[str] = mapped_column(String(200))  # ReminderSettings.fingerprint()
    planned_until: Mapped[datetime]  # rows exist for every moment before this
    next_plan_at: Mapped[datetime | None] = mapped_column(index=True)  # plan again from then
    notice_generation: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class MemberPlan(Base):
    __tablename__ = "member_plans"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    modified_at: Mapped[datetime]
    active: Mapped[bool]
    settings: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


MEMBER_PLANS = cast(Table, MemberPlan.__table__)  # Core, for the bulk marker writes of a sync
