"""Members: a `mail` flag apart from `active`, so unsubscribing from e-mail keeps the feed.

Until now the one-click unsubscribe made a member inactive, which also closed their private
feed (404 in their calendar app). `mail` says whether reminder e-mail goes out; `active` whether
they are a member at all. Existing rows keep their meaning: mail = active (an inactive member,
whether unsubscribed or switched off, got no mail and gets none).

(Numbered 0006 when written; it follows 0008 since the recurrence and reminder-history
migrations landed first.)

Revision ID: 0006_member_mail
Revises: 0008_reminder_history
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_member_mail"
down_revision = "0008_reminder_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN with a constant default: no table rebuild on SQLite, one statement on PostgreSQL
    op.add_column("members", sa.Column("mail", sa.Boolean(), nullable=False,
                                       server_default=sa.true()))
    op.execute("UPDATE members SET mail = active")


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_column("mail")
