"""Feed generation: a counter that every change to events or deadlines bumps (triggers).

`tracker serve` keeps members' private feeds in memory and checks this one row per request;
the triggers make any writer (the CLI, an import, raw SQL, another machine) invalidate them.
A later migration that rebuilds `events` or `deadlines` (SQLite batch mode copies the table)
must re-create the triggers: tests/test_publish.py checks they fire at head.

Revision ID: 0005_feed_generation
Revises: 0004_merge
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_feed_generation"
down_revision = "0004_merge"
branch_labels = None
depends_on = None

TABLES = ("events", "deadlines")
BUMP = "UPDATE feed_generation SET generation = generation + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "feed_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO feed_generation (id, generation) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION feed_generation_bump() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_feed_generation AFTER INSERT OR UPDATE OR DELETE "
                f"OR TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION feed_generation_bump()"
            )
        return
    for table in TABLES:  # SQLite: row triggers only
        for verb in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_feed_generation_{verb.lower()} AFTER {verb} ON {table} "
                f"BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_feed_generation ON {table}")
        op.execute("DROP FUNCTION IF EXISTS feed_generation_bump()")
    else:
        for table in TABLES:
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_feed_generation_{verb}")
    op.drop_table("feed_generation")
