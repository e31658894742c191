"""The scheduler: the APScheduler loop and one round (sync, publish, claim, send, mark). An edge: opens sessions and reads the clock; may import reminders, feeds, records, db and the leaves."""
