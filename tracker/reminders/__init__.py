"""Reminder e-mail: the outbox tables, the pure planner, keeping the outbox in step, claims and leases, composing and delivering mail. May import feeds, records, db and the leaves."""
