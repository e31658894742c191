"""Reminder history outlives a deleted deadline: reminders.deadline_id no longer references
deadlines (it was ON DELETE CASCADE, which erased the record of mail already sent).

`tracker deadline delete` removes the deadline's pending rows itself; sent, skipped and failed
rows stay, with the deadline's id as text, for `tracker remind status`. Existing rows keep
their values.

Revision ID: 0008_reminder_history
Revises: 0007_recurrence
"""

from __future__ import annotations

from alembic import op

revision = "0008_reminder_history"
down_revision = "0007_recurrence"
branch_labels = None
depends_on = None

# Names for the constraints 0002 created without one (SQLite's batch mode reflects them so).
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_FK = "fk_reminders_deadline_id_deadlines"
PG_FK = "reminders_deadline_id_fkey"  # PostgreSQL's default name for it


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(PG_FK, "reminders", type_="foreignkey")
        return
    with op.batch_alter_table("reminders", naming_convention=NAMING) as batch:
        batch.drop_constraint(SQLITE_FK, type_="foreignkey")


def downgrade() -> None:
    op.execute("DELETE FROM reminders WHERE deadline_id NOT IN (SELECT id FROM deadlines)")
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(PG_FK, "reminders", "deadlines", ["deadline_id"], ["id"],
                              ondelete="CASCADE")
        return
    with op.batch_alter_table("reminders", naming_convention=NAMING) as batch:
        batch.create_foreign_key(SQLITE_FK, "deadlines", ["deadline_id"], ["id"],
                                 ondelete="CASCADE")
