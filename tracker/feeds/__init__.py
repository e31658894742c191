"""iCalendar feeds: rendering items to VEVENTs and VTIMEZONEs, the per-item cache, public files and members' private feeds. May import records, db and the leaves."""
