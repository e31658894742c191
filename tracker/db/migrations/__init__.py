"""Alembic migrations: env.py (loaded by Alembic, never imported) and versions/, one file per schema change."""
