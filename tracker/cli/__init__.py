"""The secretary's command line (click): parse, call one service, print. May import every layer below: scheduler, web, reminders, ics, feeds, records, db and the leaves."""
