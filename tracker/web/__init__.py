"""`tracker serve` (Starlette): public and private feeds over HTTP, one-click unsubscribe. An edge: opens sessions and reads the clock; may import feeds, records, db and the leaves."""
