"""Feed cache entries carry what members' private feeds need to use them without the item.

`feed_cache` gains the row key of the row an entry was rendered from and the item's start,
series, cancellation instant and zone years (tracker.feeds.cache). The table is a cache, so it
is dropped and created anew: the next publish fills it. `feed_cache_state` records the data
generation the whole cache reflects (written by publishing).

Revision ID: 0010_private_cache
Revises: 0009_first_due
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_private_cache"
down_revision = "0009_first_due"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("feed_cache")
    op.create_table(
        "feed_cache",
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("vevent", sa.Text(), nullable=False),
        sa.Column("row_key", sa.Text(), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("series", sa.Text(), nullable=False),
        sa.Column("cancelled_us", sa.BigInteger(), nullable=True),
        sa.Column("zone", sa.String(length=64), nullable=True),
        sa.Column("first_year", sa.Integer(), nullable=True),
        sa.Column("last_year", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("uid"),
    )
    op.create_table(
        "feed_cache_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("render_version", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("feed_cache_state")
    op.drop_table("feed_cache")
    op.create_table(
        "feed_cache",
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("vevent", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("uid"),
    )
