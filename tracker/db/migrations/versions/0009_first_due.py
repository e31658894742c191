"""Deadlines keep their first due moment; moved-notice rows keep the due moment they replace.

`deadlines.first_due_utc/first_due_date`: "extended" is decided against the first due moment
(not the one before the latest edit), and the feed says "extended from Fri 4 Oct".
Existing rows: an open deadline's first due is its due now; for a deadline already marked
extended the first due is unknown and stays NULL (it keeps its mark; no "from" is shown).
`reminders.was_due_at`: a "moved" notice says what the due time was before.

Revision ID: 0009_first_due
Revises: 0006_member_mail
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_first_due"
down_revision = "0006_member_mail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN only: SQLite does not rebuild `deadlines`, so its feed triggers stay.
    op.add_column("deadlines", sa.Column("first_due_utc", sa.DateTime(timezone=True), nullable=True))
    op.add_column("deadlines", sa.Column("first_due_date", sa.Date(), nullable=True))
    op.execute("UPDATE deadlines SET first_due_utc = due_utc, first_due_date = due_date "
               "WHERE status <> 'extended'")
    op.add_column("reminders", sa.Column("was_due_at", sa.DateTime(timezone=True), nullable=True))


BUMP = "UPDATE feed_generation SET generation = generation + 1 WHERE id = 1"


def downgrade() -> None:
    with op.batch_alter_table("reminders") as batch:
        batch.drop_column("was_due_at")
    with op.batch_alter_table("deadlines") as batch:
        batch.drop_column("first_due_date")
        batch.drop_column("first_due_utc")
    if op.get_bind().dialect.name == "sqlite":  # the batch copy of `deadlines` lost its triggers
        for verb in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS deadlines_feed_generation_{verb.lower()}")
            op.execute(
                f"CREATE TRIGGER deadlines_feed_generation_{verb.lower()} AFTER {verb} "
                f"ON deadlines BEGIN {BUMP}; END"
            )
