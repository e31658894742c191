"""Join the reminders and feeds branches into one history.

Revision ID: 0004_merge
Revises: 0002_reminders, 0003_feeds
"""

from __future__ import annotations

revision = "0004_merge"
down_revision = ("0002_reminders", "0003_feeds")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
