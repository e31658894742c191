"""The claim's index carries its whole order: (state, next_attempt_at, id).

A claim takes the oldest due rows by (next_attempt_at, id). With `id` in the index it reads
them in that order and stops after one batch, instead of sorting every due row first
(tracker.reminders.outbox._due_ids). The old index's uses (the next wake-up, counts by state)
are served by the new one's leading columns.

Revision ID: 0011_claim_order
Revises: 0010_private_cache
"""

from __future__ import annotations

from alembic import op

revision = "0011_claim_order"
down_revision = "0010_private_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_reminders_due", "reminders", ["state", "next_attempt_at", "id"])
    op.drop_index("ix_reminders_state_next", table_name="reminders")


def downgrade() -> None:
    op.create_index("ix_reminders_state_next", "reminders", ["state", "next_attempt_at"])
    op.drop_index("ix_reminders_due", table_name="reminders")
