"""Engines and sessions, the aware-UTC column type, the table registry (`Base`) and the Alembic migrations. May import only the leaves (config, errors)."""
