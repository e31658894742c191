"""`tracker import ics`: parse an .ics file into plain items and apply them to the records. May import feeds, records, db and the leaves."""
