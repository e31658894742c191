"""Recurring events: events.rrule and events.rdates, and one row per changed occurrence.

Existing events get rrule NULL (a single event) and no extra dates: they mean what they did.
Changes to `occurrence_changes` bump the feed generation like changes to events do (the
service also bumps the event's SEQUENCE, but a raw writer may not).

Revision ID: 0007_recurrence
Revises: 0005_feed_generation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_recurrence"
down_revision = "0005_feed_generation"
branch_labels = None
depends_on = None

BUMP = "UPDATE feed_generation SET generation = generation + 1 WHERE id = 1"
TABLE = "occurrence_changes"


def upgrade() -> None:
    # add_column keeps SQLite from rebuilding `events` (which would drop its triggers).
    op.add_column("events", sa.Column("rrule", sa.Text(), nullable=True))
    op.add_column("events", sa.Column("rdates", sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
    op.create_table(
        TABLE,
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("original_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("start_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "original_utc"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TABLE}_feed_generation AFTER INSERT OR UPDATE OR DELETE "
            f"OR TRUNCATE ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION feed_generation_bump()"
        )
        return
    for verb in ("INSERT", "UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {TABLE}_feed_generation_{verb.lower()} AFTER {verb} ON {TABLE} "
            f"BEGIN {BUMP}; END"
        )


def downgrade() -> None:
    op.drop_table(TABLE)  # its triggers go with it
    with op.batch_alter_table("events") as batch:
        batch.drop_column("rdates")
        batch.drop_column("rrule")
    if op.get_bind().dialect.name == "sqlite":  # the batch copy of `events` lost its triggers
        for verb in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS events_feed_generation_{verb.lower()}")
            op.execute(
                f"CREATE TRIGGER events_feed_generation_{verb.lower()} AFTER {verb} ON events "
                f"BEGIN {BUMP}; END"
            )
